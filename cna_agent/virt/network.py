"""DVS networks: an OVS bridge plus a libvirt network whose port groups carry VLAN tags.

A network is ours when it is ``<forward mode='bridge'/>`` with ``<virtualport
type='openvswitch'/>``; libvirt then plugs each NIC into the OVS bridge with its port
group's VLAN tag. Ensuring a network again with other port groups edits them in place
with ``virNetworkUpdate`` (live and persistent) rather than destroy/define/start: the
network never goes down, so running domains keep their ports and traffic. A changed
VLAN applies to NICs plugged from then on and libvirt does not retag ports already in
use, so ``ensure`` retags the OVS ports of running NICs on a changed port group itself
(direct ``vnetN`` ports and the OVS end of filtered NICs, see ``plug``).
The MTU is set on the OVS bridge and uplink only (libvirt refuses ``<mtu>`` in bridge
mode); libvirt gives each tap the MTU of the bridge it joins.
"""

from __future__ import annotations

import logging
import threading
import xml.etree.ElementTree as ET
from typing import Any

import libvirt

from cna_agent.errors import AlreadyExists, InvalidSpec, NotFound, StateConflict, Unsupported
from cna_agent.protocol import NetworkReport, NetworkSpec, PortGroupSpec
from cna_agent.virt.connection import Hypervisor, translate
from cna_agent.virt.devxml import Metadata, nic_mac
from cna_agent.virt.ovs import Vsctl
from cna_agent.virt.plug import PlugNames

log = logging.getLogger(__name__)

VIRTUALPORT = "openvswitch"


# --- XML ------------------------------------------------------------------------------


def portgroup_element(group: PortGroupSpec) -> ET.Element:
    """A ``<portgroup>``: a VLAN tag unless untagged (VLAN 0), or a trunk of tags whose
    native (untagged) VLAN is ``vlan_id`` when not 0."""
    element = ET.Element("portgroup", name=group.name)
    if group.trunk:
        vlan = ET.SubElement(element, "vlan", trunk="yes")
        if group.vlan_id > 0:
            ET.SubElement(vlan, "tag", id=str(group.vlan_id), nativeMode="untagged")
        for tag in group.trunk:
            ET.SubElement(vlan, "tag", id=str(tag))
    elif group.vlan_id > 0:
        ET.SubElement(ET.SubElement(element, "vlan"), "tag", id=str(group.vlan_id))
    return element


def network_xml(spec: NetworkSpec) -> str:
    """The libvirt XML of a DVS on an OVS bridge."""
    _check_unique(spec.port_groups)
    root = ET.Element("network")
    ET.SubElement(root, "name").text = spec.name
    ET.SubElement(root, "forward", mode="bridge")
    ET.SubElement(root, "bridge", name=spec.bridge)
    ET.SubElement(root, "virtualport", type=VIRTUALPORT)
    root.extend(portgroup_element(g) for g in spec.port_groups)
    return ET.tostring(root, encoding="unicode")


def parse_network(xml: str, *, active: bool) -> NetworkReport | None:
    """The report of a network's XML, or None when it is not an OVS network of ours."""
    root = ET.fromstring(xml)
    port = root.find("virtualport")
    if port is None or port.get("type") != VIRTUALPORT:
        return None
    bridge = root.find("bridge")
    groups = [_parse_portgroup(g) for g in root.findall("portgroup")]
    return NetworkReport(
        name=root.findtext("name", ""),
        bridge=bridge.get("name", "") if bridge is not None else "",
        active=active,
        port_groups=sorted(groups, key=lambda g: g.name),
    )


def _parse_portgroup(element: ET.Element) -> PortGroupSpec:
    vlan = element.find("vlan")
    if vlan is not None and vlan.get("trunk") == "yes":
        tags = vlan.findall("tag")
        native = next((int(t.get("id", "0")) for t in tags if t.get("nativeMode")), 0)
        trunk = sorted(int(t.get("id", "0")) for t in tags if not t.get("nativeMode"))
        return PortGroupSpec(name=element.get("name", ""), vlan_id=native, trunk=trunk)
    tag = element.find("vlan/tag")
    vlan_id = int(tag.get("id", "0")) if tag is not None else 0
    return PortGroupSpec(name=element.get("name", ""), vlan_id=vlan_id)


def _check_unique(groups: list[PortGroupSpec]) -> None:
    names = [g.name for g in groups]
    if len(names) != len(set(names)):
        raise InvalidSpec("two port groups have the same name", code="duplicate_port_group")


# --- the service ----------------------------------------------------------------------


class Networks:
    """The node's DVS networks; OVS is reached through an injectable ``Vsctl``."""

    def __init__(self, hv: Hypervisor, ovs: Vsctl | None = None) -> None:
        self.hv = hv
        self.ovs = ovs or Vsctl()
        # ensure/delete are check-then-act on libvirt and OVS together.
        self._lock = threading.Lock()

    def ensure(self, spec: NetworkSpec) -> NetworkReport:
        """Create or update the bridge and the network; port groups are synced in place."""
        xml = network_xml(spec)
        with self._lock:
            self.ovs.ensure_bridge(spec.bridge, mtu=spec.mtu, uplink=spec.uplink)
            with translate():
                net = self._find(spec.name)
                if net is None:
                    net = self.hv.conn.networkDefineXML(xml)
                    log.info("defined network %s on bridge %s", spec.name, spec.bridge)
                else:
                    changed = self._sync(net, spec)
                    self._retag(spec.name, changed)
                if not net.isActive():
                    net.create()
                if not net.autostart():
                    net.setAutostart(1)
                return self._report(net)

    def networks(self) -> list[NetworkReport]:
        """The node's OVS networks (others, like libvirt's ``default``, are not listed)."""
        with translate():
            found = (_maybe_report(n) for n in self.hv.conn.listAllNetworks(0))
            return [r for r in found if r is not None]

    def network(self, name: str) -> NetworkReport:
        """One OVS network (NotFound ``network_not_found`` when unknown or not ours)."""
        with translate():
            return self._report(self.hv.conn.networkLookupByName(name))

    def delete(self, name: str) -> None:
        """Stop and undefine a network unused by domains, then its bridge; unknown is fine."""
        with self._lock:
            with translate():
                net = self._find(name)
                if net is None:
                    return
                report = self._report(net)
                _refuse_in_use(net, name)
                if net.isActive():
                    net.destroy()
                net.undefine()
            log.info("deleted network %s", name)
            if all(n.bridge != report.bridge for n in self.networks()):
                self.ovs.delete_bridge(report.bridge)

    def port_vlan(self, iface: str) -> int:
        """The VLAN of a NIC's OVS port (its ``vnetN`` device), 0 when untagged."""
        return self.ovs.port_tag(iface) or 0

    # helpers

    def _find(self, name: str) -> Any | None:
        try:
            with translate():
                return self.hv.conn.networkLookupByName(name)
        except NotFound:
            return None

    @staticmethod
    def _report(net: Any) -> NetworkReport:
        report = _maybe_report(net)
        if report is None:
            raise NotFound(f"network {net.name()} is not an OVS network", code="network_not_found")
        return report

    def _retag(self, network: str, groups: list[PortGroupSpec]) -> None:
        """Give the ports of running NICs on ``groups`` their new VLAN (libvirt does not)."""
        if not groups:
            return
        wanted = {g.name: g for g in groups}
        flags = libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE
        for dom in self.hv.conn.listAllDomains(flags):
            root = ET.fromstring(str(dom.XMLDesc(0)))
            ports = Metadata.from_domain(root).ports
            for iface in root.findall("devices/interface"):
                found = _port_on(iface, network, ports)
                if found is not None and found[1] in wanted:
                    group = wanted[found[1]]
                    self.ovs.set_port_vlan(found[0], tag=group.vlan_id, trunk=group.trunk)
                    log.info("port %s retagged to VLAN %d", found[0], group.vlan_id)

    def _sync(self, net: Any, spec: NetworkSpec) -> list[PortGroupSpec]:
        """Edit the network's port groups to the spec's; the groups whose VLAN changed."""
        report = _maybe_report(net)
        if report is None or report.bridge != spec.bridge:
            raise AlreadyExists(
                f"network {spec.name} exists on another bridge or is not an OVS network",
                code="network_exists",
                details={"network": spec.name},
            )
        current = {g.name: g for g in report.port_groups}
        wanted = {g.name: g for g in spec.port_groups}
        changed = []
        for group in spec.port_groups:
            if group.name not in current:
                _update(net, libvirt.VIR_NETWORK_UPDATE_COMMAND_ADD_LAST, group)
            elif current[group.name] != group:
                _update(net, libvirt.VIR_NETWORK_UPDATE_COMMAND_MODIFY, group)
                changed.append(group)
        for name in current.keys() - wanted.keys():
            _update(net, libvirt.VIR_NETWORK_UPDATE_COMMAND_DELETE, current[name])
        return changed


def _port_on(
    iface: ET.Element, network: str, ports: dict[str, tuple[str, str]]
) -> tuple[str, str] | None:
    """(OVS port, port group) of a live ``<interface>`` on ``network``, else None.

    A running domain's NIC on a network shows as ``type='bridge'`` with the network still
    named in its ``<source>``; a filtered NIC's source names only its own Linux bridge.
    """
    source, target, mac = iface.find("source"), iface.find("target"), nic_mac(iface)
    if source is not None and source.get("network") is not None:
        dev = target.get("dev") if target is not None else None
        on_network = dev is not None and source.get("network") == network
        return (dev, source.get("portgroup", "")) if on_network and dev else None
    if mac in ports and ports[mac][0] == network:
        return PlugNames.of(mac).ovs_port, ports[mac][1]
    return None


def _maybe_report(net: Any) -> NetworkReport | None:
    return parse_network(str(net.XMLDesc(0)), active=bool(net.isActive()))


def _update(net: Any, command: int, group: PortGroupSpec) -> None:
    """Apply one port group edit to the persistent definition, and live when running."""
    flags = libvirt.VIR_NETWORK_UPDATE_AFFECT_CONFIG
    if net.isActive():
        flags |= libvirt.VIR_NETWORK_UPDATE_AFFECT_LIVE
    xml = ET.tostring(portgroup_element(group), encoding="unicode")
    net.update(command, libvirt.VIR_NETWORK_SECTION_PORTGROUP, -1, xml, flags)
    log.info("network %s: port group %s (VLAN %d) edited", net.name(), group.name, group.vlan_id)


def _refuse_in_use(net: Any, name: str) -> None:
    """StateConflict when domains are plugged into the network."""
    if not net.isActive():
        return
    try:
        with translate():
            ports = len(net.listAllPorts(0))
    except Unsupported:
        # libvirt's test driver keeps no port list; it has no real NICs to cut anyway.
        return
    if ports:
        raise StateConflict(
            f"network {name} still has {ports} port(s) in use",
            code="network_in_use",
            details={"ports": ports},
        )
