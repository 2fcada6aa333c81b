"""IP-MAC binding with libvirt's network filters.

A NIC with bound addresses carries libvirt's ``clean-traffic`` filter with its IPv4
addresses (``IP``): the guest cannot send from another MAC or IPv4 address, nor answer
ARP for one. ``clean-traffic`` lets no IPv6 through, so a NIC with IPv6 addresses
carries ``openvrm-clean-traffic`` instead: ``clean-traffic`` plus the same binding for
IPv6 (``IPV6``; link-local and unspecified sources stay allowed for neighbour discovery
and DHCPv6). The agent defines that filter the first time a NIC with addresses is
defined, attached or changed.
"""

from __future__ import annotations

import ipaddress
import logging
import xml.etree.ElementTree as ET
from collections.abc import Sequence

import libvirt

from cna_agent.virt.connection import Hypervisor, translate

log = logging.getLogger(__name__)

IPV4_FILTER = "clean-traffic"
DUAL_FILTER = "openvrm-clean-traffic"
_NO_IPV6_SPOOFING = "openvrm-no-ipv6-spoofing"

# Evaluated before the root chain's IPv6 accept (-650), like no-ip-spoofing for IPv4.
_FILTERS = (
    f"""<filter name='{_NO_IPV6_SPOOFING}' chain='ipv6-ip' priority='-710'>
  <rule action='return' direction='out' priority='100'>
    <ipv6 srcipaddr='fe80::' srcipmask='10'/>
  </rule>
  <rule action='return' direction='out' priority='200'>
    <ipv6 srcipaddr='::' srcipmask='128'/>
  </rule>
  <rule action='return' direction='out' priority='500'>
    <ipv6 srcipaddr='$IPV6'/>
  </rule>
  <rule action='drop' direction='out' priority='1000'/>
</filter>""",
    f"""<filter name='{DUAL_FILTER}' chain='root'>
  <filterref filter='{IPV4_FILTER}'/>
  <filterref filter='{_NO_IPV6_SPOOFING}'/>
  <rule action='accept' direction='out' priority='-650'>
    <mac protocolid='ipv6'/>
  </rule>
  <filterref filter='allow-incoming-ipv6'/>
</filter>""",
)


def ensure_filters(hv: Hypervisor) -> None:
    """Define OpenVRM's filters when missing (libvirt ships the ones they build on)."""
    with translate():
        for xml in _FILTERS:
            name = ET.fromstring(xml).get("name", "")
            try:
                hv.conn.nwfilterLookupByName(name)
            except libvirt.libvirtError:
                hv.conn.nwfilterDefineXML(xml)
                log.info("defined network filter %s", name)


def filterref_element(ips: Sequence[str]) -> ET.Element:
    """The ``<filterref>`` binding a NIC to ``ips``."""
    v6 = [ip for ip in ips if ipaddress.ip_address(ip).version == 6]
    v4 = [ip for ip in ips if ipaddress.ip_address(ip).version == 4]
    element = ET.Element("filterref", filter=DUAL_FILTER if v6 else IPV4_FILTER)
    for name, values in (("IP", v4), ("IPV6", v6)):
        for value in values:
            ET.SubElement(element, "parameter", name=name, value=value)
    return element


def filtered_ips(interface: ET.Element) -> list[str]:
    """The addresses an ``<interface>``'s filter binds (none without a filter)."""
    ref = interface.find("filterref")
    if ref is None:
        return []
    params = ref.findall("parameter")
    return [p.get("value", "") for p in params if p.get("name") in ("IP", "IPV6")]
