"""Filtered NICs: a Linux bridge between the guest's tap and the OVS bridge.

libvirt's nwfilter (the IP-MAC binding, ``clean-traffic``) works with ebtables, which
sees frames only on a Linux bridge, and libvirt refuses a filter on an Open vSwitch
port. So a NIC with bound addresses is plugged in three pieces, all named after its MAC:

    guest tap --(filter)-- Linux bridge ``ovb<mac>`` -- veth ``ovv<mac>`` / ``ovo<mac>`` -- OVS

The domain's ``<interface type='bridge'>`` names the Linux bridge; the OVS end of the
veth pair carries the port group's VLAN tag (or trunk), like a NIC plugged directly.
The plumbing is made before the domain starts or the NIC is hot-plugged, and removed
when the NIC is detached or the domain undefined. It does not survive a node reboot;
starting the domain makes it again.
"""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass

from cna_agent.errors import HypervisorError
from cna_agent.virt.ovs import Vsctl

log = logging.getLogger(__name__)

BRIDGE, VETH, OVS_END = "ovb", "ovv", "ovo"


class PlugError(HypervisorError):
    """The ``ip`` command failed while plumbing a filtered NIC."""

    default_code = "plug_error"


@dataclass(frozen=True, slots=True)
class PlugNames:
    """The interfaces of one filtered NIC (15 characters at most, as Linux requires)."""

    bridge: str
    veth: str
    ovs_port: str

    @classmethod
    def of(cls, mac: str) -> PlugNames:
        """Names from the MAC's last five octets (unique: MACs are unique per installation)."""
        suffix = "".join(mac.lower().split(":")[1:])
        return cls(BRIDGE + suffix, VETH + suffix, OVS_END + suffix)


@dataclass(frozen=True, slots=True)
class Vlan:
    """What the OVS port carries: an access tag (0 = untagged) or a trunk with native VLAN."""

    tag: int = 0
    trunk: tuple[int, ...] = ()


class Plugs:
    """Makes and removes the plumbing of filtered NICs."""

    def __init__(self, ovs: Vsctl, ip_binary: str = "ip") -> None:
        self.ovs = ovs
        self.ip_binary = ip_binary

    def plug(self, mac: str, ovs_bridge: str, vlan: Vlan, mtu: int = 1500) -> PlugNames:
        """Make the NIC's bridge and veth pair and put the OVS end on ``ovs_bridge``."""
        names = PlugNames.of(mac)
        if not self._exists(names.bridge):
            self._ip("link", "add", names.bridge, "type", "bridge")
        if not self._exists(names.veth):
            self._ip("link", "add", names.veth, "type", "veth", "peer", "name", names.ovs_port)
        for name in (names.bridge, names.veth, names.ovs_port):
            self._ip("link", "set", name, "mtu", str(mtu), "up")
        self._ip("link", "set", names.veth, "master", names.bridge)
        self.ovs.add_port(ovs_bridge, names.ovs_port, tag=vlan.tag, trunk=vlan.trunk, mac=mac)
        log.info("plugged filtered NIC %s into %s (VLAN %s)", mac, ovs_bridge, vlan)
        return names

    def unplug(self, mac: str) -> None:
        """Remove the NIC's plumbing; what is already gone is fine."""
        names = PlugNames.of(mac)
        self.ovs.del_port(names.ovs_port)
        for name in (names.veth, names.bridge):  # deleting one end of a veth removes both
            if self._exists(name):
                self._ip("link", "del", name)

    def exists(self, mac: str) -> bool:
        """Whether the NIC's Linux bridge is there."""
        return self._exists(PlugNames.of(mac).bridge)

    def _exists(self, name: str) -> bool:
        done = self._run(["link", "show", "dev", name], check=False)
        return done.returncode == 0

    def _ip(self, *args: str) -> None:
        self._run(list(args), check=True)

    def _run(self, args: Sequence[str], *, check: bool) -> subprocess.CompletedProcess[str]:
        argv = [self.ip_binary, *args]
        try:
            done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=10)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise PlugError(f"cannot run {self.ip_binary}: {exc}", details={"argv": argv}) from exc
        if check and done.returncode != 0:
            message = done.stderr.strip() or f"{self.ip_binary} exited with {done.returncode}"
            raise PlugError(message, details={"argv": argv, "returncode": done.returncode})
        return done
