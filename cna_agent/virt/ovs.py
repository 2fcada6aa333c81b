"""A thin typed wrapper over ``ovs-vsctl``: the node's OVS bridges and their ports' VLAN tags.

Open vSwitch is the only way to get VLANs on nodes without 802.1Q in the kernel, and a
DVS is realized as one OVS bridge per node. Bridges use the userspace datapath
(``datapath_type=netdev``), which works everywhere the kernel datapath may not.
"""

from __future__ import annotations

import logging
import math
import subprocess
from collections.abc import Sequence

from cna_agent.errors import HypervisorError, InvalidSpec

log = logging.getLogger(__name__)

DEFAULT_BINARY = "ovs-vsctl"
# ovs-vsctl waits for ovs-vswitchd to apply each change; bound that wait.
DEFAULT_TIMEOUT_S = 10.0
MAX_VLAN = 4094


class OvsError(HypervisorError):
    """``ovs-vsctl`` could not be run or refused a command."""

    default_code = "ovs_error"


class Vsctl:
    """The ``ovs-vsctl`` command; the binary is injectable so tests can break it."""

    def __init__(self, binary: str = DEFAULT_BINARY, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self.binary = binary
        self.timeout_s = timeout_s

    def ensure_bridge(self, name: str, *, mtu: int = 1500, uplink: str | None = None) -> None:
        """Create the bridge (userspace datapath) with its MTU and uplink port, if missing."""
        args = ["--may-exist", "add-br", name]
        args += ["--", "set", "bridge", name, "datapath_type=netdev"]
        args += ["--", "set", "interface", name, f"mtu_request={mtu}"]
        if uplink is not None:
            args += ["--", "--may-exist", "add-port", name, uplink]
            args += ["--", "set", "interface", uplink, f"mtu_request={mtu}"]
        self.run(args)

    def delete_bridge(self, name: str) -> None:
        """Delete the bridge and its ports; a missing bridge is fine."""
        self.run(["--if-exists", "del-br", name])

    def bridges(self) -> list[str]:
        """Names of the node's OVS bridges."""
        return self.run(["list-br"]).split()

    def ports(self, bridge: str) -> list[str]:
        """Names of the ports on a bridge (the bridge's own internal port excluded)."""
        return self.run(["list-ports", bridge]).split()

    def port_tag(self, port: str) -> int | None:
        """The port's VLAN tag, or None when the port is untagged."""
        out = self.run(["get", "port", port, "tag"]).strip()
        # An unset optional column prints as an empty set.
        return None if out in ("", "[]") else int(out)

    def add_port(
        self, bridge: str, port: str, *, tag: int, trunk: Sequence[int] = (), mac: str = ""
    ) -> None:
        """Put ``port`` on ``bridge`` with its VLAN (see ``set_port_vlan``); idempotent."""
        args = ["--may-exist", "add-port", bridge, port, "--", *self._vlan_args(port, tag, trunk)]
        if mac:
            args += ["--", "set", "interface", port, f"external_ids:attached-mac={mac}"]
        self.run(args)

    def set_port_vlan(self, port: str, *, tag: int, trunk: Sequence[int] = ()) -> None:
        """Make ``port`` an access port of VLAN ``tag`` (0 = untagged), or a trunk of
        ``trunk`` whose native untagged VLAN is ``tag`` (0 = none), live."""
        self.run(self._vlan_args(port, tag, trunk))

    @staticmethod
    def _vlan_args(port: str, tag: int, trunk: Sequence[int]) -> list[str]:
        if not 0 <= tag <= MAX_VLAN:
            raise InvalidSpec(f"VLAN tag {tag} is out of 0-{MAX_VLAN}", code="invalid_vlan")
        args = ["clear", "port", port, "tag", "--", "clear", "port", port, "trunks"]
        settings = ["vlan_mode=access"]
        if trunk:
            mode = "native-untagged" if tag else "trunk"
            settings = ["trunks=" + ",".join(map(str, trunk)), f"vlan_mode={mode}"]
        if tag:
            settings.append(f"tag={tag}")
        return [*args, "--", "set", "port", port, *settings]

    def del_port(self, port: str) -> None:
        """Remove ``port`` from whatever bridge has it; a missing port is fine."""
        self.run(["--if-exists", "del-port", port])

    def port_trunks(self, port: str) -> list[int]:
        """The VLANs a trunk port carries ([] for an access port)."""
        out = self.run(["get", "port", port, "trunks"]).strip().strip("[]")
        return [int(v) for v in out.split(",") if v.strip()]

    def run(self, args: Sequence[str]) -> str:
        """Run one ``ovs-vsctl`` transaction and return its standard output."""
        # ovs-vsctl reads --timeout=0 as "wait forever", so never go below one second;
        # the process timeout, a second later, only catches an ovs-vsctl that hangs anyway.
        seconds = max(1, math.ceil(self.timeout_s))
        argv = [self.binary, f"--timeout={seconds}", *args]
        try:
            done = subprocess.run(
                argv, capture_output=True, text=True, check=False, timeout=seconds + 1
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise OvsError(f"cannot run {self.binary}: {exc}", details={"argv": argv}) from exc
        if done.returncode != 0:
            message = done.stderr.strip() or f"{self.binary} exited with {done.returncode}"
            details = {"argv": argv, "returncode": done.returncode}
            raise OvsError(message, details=details)
        log.debug("ovs-vsctl %s", " ".join(args))
        return done.stdout
