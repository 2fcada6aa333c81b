"""The ovs-vsctl wrapper: command lines and error paths with fake binaries, bridges on real OVS."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from cna_agent.errors import HypervisorError, InvalidSpec
from cna_agent.virt.ovs import OvsError, Vsctl


def _script(tmp_path: Path, body: str) -> str:
    """A fake ovs-vsctl: a shell script with the given body."""
    path = tmp_path / "ovs-vsctl"
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)
    return str(path)


@pytest.fixture
def bridge() -> Iterator[str]:
    """A fresh OVS bridge name with the test prefix, deleted afterwards."""
    name = f"ovt{uuid.uuid4().hex[:8]}"
    yield name
    subprocess.run(["ovs-vsctl", "--if-exists", "del-br", name], check=False)


@pytest.fixture
def veth() -> Iterator[str]:
    """A veth device to serve as an uplink, deleted afterwards."""
    name = f"ovtu{uuid.uuid4().hex[:6]}"
    subprocess.run(
        ["ip", "link", "add", name, "type", "veth", "peer", "name", f"{name}p"], check=True
    )
    yield name
    subprocess.run(["ip", "link", "del", name], check=False)


# --- fake binaries ----------------------------------------------------------------------


def test_missing_binary_is_an_ovs_error(tmp_path: Path) -> None:
    vsctl = Vsctl(binary=str(tmp_path / "no-such-ovs-vsctl"))
    with pytest.raises(OvsError) as caught:
        vsctl.bridges()
    assert isinstance(caught.value, HypervisorError)
    assert caught.value.code == "ovs_error"
    assert caught.value.status == 502
    assert "cannot run" in caught.value.message


def test_failing_command_carries_its_stderr(tmp_path: Path) -> None:
    vsctl = Vsctl(binary=_script(tmp_path, 'echo "ovs-vsctl: no bridge named $3" >&2; exit 1'))
    with pytest.raises(OvsError) as caught:
        vsctl.ports("ovtmissing")
    assert caught.value.message == "ovs-vsctl: no bridge named ovtmissing"
    assert caught.value.details["returncode"] == 1
    assert caught.value.details["argv"][1:] == ["--timeout=10", "list-ports", "ovtmissing"]


def test_hanging_command_times_out(tmp_path: Path) -> None:
    vsctl = Vsctl(binary=_script(tmp_path, "exec sleep 30"), timeout_s=0.1)
    with pytest.raises(OvsError, match="timed out"):
        vsctl.bridges()


def test_ensure_bridge_is_one_transaction(tmp_path: Path) -> None:
    log = tmp_path / "argv"
    vsctl = Vsctl(binary=_script(tmp_path, f'echo "$@" > {log}'))
    vsctl.ensure_bridge("ovtx", mtu=9000, uplink="eth1")
    assert log.read_text().split() == [
        "--timeout=10",
        *("--may-exist", "add-br", "ovtx"),
        *("--", "set", "bridge", "ovtx", "datapath_type=netdev"),
        *("--", "set", "interface", "ovtx", "mtu_request=9000"),
        *("--", "--may-exist", "add-port", "ovtx", "eth1"),
        *("--", "set", "interface", "eth1", "mtu_request=9000"),
    ]


def test_vlan_tag_out_of_range_is_refused_before_running(tmp_path: Path) -> None:
    vsctl = Vsctl(binary=str(tmp_path / "never-run"))
    with pytest.raises(InvalidSpec) as caught:
        vsctl.set_port_vlan("vnet0", tag=4095)
    assert caught.value.code == "invalid_vlan"


def test_untagged_port_reads_as_none(tmp_path: Path) -> None:
    assert Vsctl(binary=_script(tmp_path, "echo '[]'")).port_tag("vnet0") is None
    assert Vsctl(binary=_script(tmp_path, "echo 42")).port_tag("vnet0") == 42


# --- real Open vSwitch ------------------------------------------------------------------


def test_bridge_life_cycle_on_real_ovs(bridge: str, veth: str) -> None:
    vsctl = Vsctl()
    vsctl.ensure_bridge(bridge, mtu=1500, uplink=veth)
    vsctl.ensure_bridge(bridge, mtu=1500, uplink=veth)

    assert bridge in vsctl.bridges()
    assert vsctl.ports(bridge) == [veth]
    assert vsctl.run(["get", "bridge", bridge, "datapath_type"]).strip() == "netdev"
    assert vsctl.port_tag(veth) is None
    vsctl.set_port_vlan(veth, tag=300)
    assert vsctl.port_tag(veth) == 300
    vsctl.set_port_vlan(veth, tag=0)
    assert vsctl.port_tag(veth) is None

    vsctl.delete_bridge(bridge)
    vsctl.delete_bridge(bridge)
    assert bridge not in vsctl.bridges()


def test_real_ovs_error_names_the_missing_bridge(bridge: str) -> None:
    with pytest.raises(OvsError, match=f"no bridge named {bridge}"):
        Vsctl().ports(bridge)
