"""DVS networks: XML and port group sync on the test driver, OVS and a real VLAN-tagged guest."""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from collections.abc import Sequence

import libvirt
import pytest
from pydantic import ValidationError

from cna_agent.errors import AlreadyExists, InvalidSpec, NotFound, StateConflict
from cna_agent.protocol import NetworkSpec, PortGroupSpec
from cna_agent.virt.connection import Hypervisor
from cna_agent.virt.network import Networks, network_xml, parse_network
from cna_agent.virt.ovs import Vsctl

GROUPS = [
    PortGroupSpec(name="v0", vlan_id=0),
    PortGroupSpec(name="v100", vlan_id=100),
    PortGroupSpec(name="v200", vlan_id=200),
]


class RecordingVsctl(Vsctl):
    """An ovs-vsctl that records its transactions and changes nothing."""

    def __init__(self) -> None:
        super().__init__(binary="/nonexistent/ovs-vsctl")
        self.calls: list[list[str]] = []

    def run(self, args: Sequence[str]) -> str:
        self.calls.append(list(args))
        return ""


def _spec(groups: list[PortGroupSpec], *, bridge: str | None = None) -> NetworkSpec:
    suffix = uuid.uuid4().hex[:6]
    return NetworkSpec(
        name=f"ovrmtest-dvs-{suffix}", bridge=bridge or f"ovt{suffix}", port_groups=groups
    )


# --- XML and the test driver ------------------------------------------------------------


def test_network_xml() -> None:
    root = ET.fromstring(network_xml(NetworkSpec(name="dvs1", bridge="br1", port_groups=GROUPS)))
    assert root.find("forward").get("mode") == "bridge"  # type: ignore[union-attr]
    assert root.find("bridge").get("name") == "br1"  # type: ignore[union-attr]
    assert root.find("virtualport").get("type") == "openvswitch"  # type: ignore[union-attr]
    groups = {g.get("name"): g for g in root.findall("portgroup")}
    assert groups["v0"].find("vlan") is None
    assert groups["v100"].find("vlan/tag").get("id") == "100"  # type: ignore[union-attr]
    assert groups["v200"].find("vlan/tag").get("id") == "200"  # type: ignore[union-attr]


def test_trunk_port_groups_round_trip() -> None:
    trunks = [
        PortGroupSpec(name="t", vlan_id=0, trunk=[30, 10]),
        PortGroupSpec(name="n", vlan_id=5, trunk=[10]),
    ]
    xml = network_xml(NetworkSpec(name="dvs1", bridge="br1", port_groups=trunks))
    groups = {g.get("name"): g for g in ET.fromstring(xml).findall("portgroup")}
    assert groups["t"].find("vlan").get("trunk") == "yes"  # type: ignore[union-attr]
    assert [t.get("id") for t in groups["t"].iterfind("vlan/tag")] == ["10", "30"]
    native = groups["n"].find("vlan/tag[@nativeMode='untagged']")
    assert native is not None
    assert native.get("id") == "5"
    report = parse_network(xml, active=True)
    assert report is not None
    assert report.port_groups == sorted(trunks, key=lambda g: g.name)
    with pytest.raises(ValidationError, match="native"):
        PortGroupSpec(name="x", vlan_id=10, trunk=[10])


def test_duplicate_port_groups_are_refused() -> None:
    twice = [PortGroupSpec(name="a", vlan_id=1), PortGroupSpec(name="a", vlan_id=2)]
    with pytest.raises(ValidationError):
        NetworkSpec(name="dvs1", bridge="br1", port_groups=twice)
    # The XML builder refuses them too, for specs built without validation.
    unchecked = NetworkSpec.model_construct(name="dvs1", bridge="br1", port_groups=twice)
    with pytest.raises(InvalidSpec) as caught:
        network_xml(unchecked)
    assert caught.value.code == "duplicate_port_group"


def test_port_groups_sync_on_the_test_driver(test_hv: Hypervisor) -> None:
    ovs = RecordingVsctl()
    networks = Networks(test_hv, ovs)
    spec = _spec(GROUPS, bridge="ovtbr")
    report = networks.ensure(spec)
    assert networks.ensure(spec) == report
    assert (report.bridge, report.active, report.port_groups) == ("ovtbr", True, GROUPS)
    assert ovs.calls[0][:3] == ["--may-exist", "add-br", "ovtbr"]
    assert [n.name for n in networks.networks()] == [spec.name]  # "default" is not ours

    changed = [PortGroupSpec(name="v100", vlan_id=101), PortGroupSpec(name="v300", vlan_id=300)]
    report = networks.ensure(spec.model_copy(update={"port_groups": changed}))
    assert report.port_groups == changed
    assert networks.network(spec.name) == report

    networks.delete(spec.name)
    networks.delete(spec.name)
    assert networks.networks() == []
    assert ovs.calls[-1] == ["--if-exists", "del-br", "ovtbr"]


def test_name_clashes_on_the_test_driver(test_hv: Hypervisor) -> None:
    networks = Networks(test_hv, RecordingVsctl())
    spec = _spec(GROUPS)
    networks.ensure(spec)
    with pytest.raises(AlreadyExists) as caught:
        networks.ensure(spec.model_copy(update={"bridge": "ovtother"}))
    assert caught.value.code == "network_exists"
    with pytest.raises(AlreadyExists):
        networks.ensure(NetworkSpec(name="default", bridge="ovtx"))
    with pytest.raises(NotFound):
        networks.delete("default")  # libvirt's NAT network is not ours to delete


# --- qemu:///system and real Open vSwitch ------------------------------------------------


def test_ovs_network_life_cycle(qemu_hv: Hypervisor) -> None:
    networks = Networks(qemu_hv)
    spec = _spec(GROUPS)
    report = networks.ensure(spec)
    assert networks.ensure(spec) == report
    assert (report.name, report.bridge, report.active, report.port_groups) == (
        spec.name,
        spec.bridge,
        True,
        GROUPS,
    )
    assert spec.bridge in networks.ovs.bridges()
    assert networks.ovs.run(["get", "bridge", spec.bridge, "datapath_type"]).strip() == "netdev"
    assert qemu_hv.conn.networkLookupByName(spec.name).autostart()
    assert spec.name in {n.name for n in networks.networks()}

    changed = [GROUPS[0], PortGroupSpec(name="v100", vlan_id=101)]
    assert networks.ensure(spec.model_copy(update={"port_groups": changed})).port_groups == changed
    persistent = qemu_hv.conn.networkLookupByName(spec.name).XMLDesc(
        libvirt.VIR_NETWORK_XML_INACTIVE
    )
    assert [g.get("name") for g in ET.fromstring(persistent).findall("portgroup")] == [
        "v0",
        "v100",
    ]

    networks.delete(spec.name)
    networks.delete(spec.name)
    assert spec.name not in {n.name for n in networks.networks()}
    assert spec.bridge not in networks.ovs.bridges()


def _guest_xml(name: str, network: str) -> str:
    nics = "".join(
        f"<interface type='network'><source network='{network}' portgroup='{group}'/>"
        "<model type='virtio'/></interface>"
        for group in ("v100", "v0")
    )
    return (
        f"<domain type='qemu'><name>{name}</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>"
        "<os><type arch='x86_64' machine='pc'>hvm</type></os>"
        f"<devices>{nics}</devices></domain>"
    )


def test_running_guest_port_gets_its_vlan(qemu_hv: Hypervisor) -> None:
    networks = Networks(qemu_hv)
    spec = _spec(GROUPS)
    networks.ensure(spec)
    dom = qemu_hv.conn.defineXML(_guest_xml(f"ovrmtest-vm-{uuid.uuid4().hex[:6]}", spec.name))
    try:
        dom.create()
        live = ET.fromstring(dom.XMLDesc(0))
        tagged, untagged = (t.get("dev", "") for t in live.findall("devices/interface/target"))
        assert sorted(networks.ovs.ports(spec.bridge)) == sorted([tagged, untagged])
        assert networks.ovs.port_tag(tagged) == 100
        assert networks.port_vlan(untagged) == 0

        # A changed port group retags the ports already in use (libvirt alone does not).
        retagged = [
            PortGroupSpec(name="v0", vlan_id=5, trunk=[10, 20]),
            PortGroupSpec(name="v100", vlan_id=200),
            GROUPS[2],
        ]
        networks.ensure(spec.model_copy(update={"port_groups": retagged}))
        assert networks.port_vlan(tagged) == 200
        assert networks.ovs.port_trunks(untagged) == [10, 20]
        assert networks.port_vlan(untagged) == 5
        assert networks.ovs.run(["get", "port", untagged, "vlan_mode"]).strip() == (
            "native-untagged"
        )
        with pytest.raises(StateConflict) as caught:
            networks.delete(spec.name)
        assert caught.value.code == "network_in_use"
    finally:
        if dom.isActive():
            dom.destroy()
        dom.undefine()
    networks.delete(spec.name)
    assert spec.bridge not in networks.ovs.bridges()
