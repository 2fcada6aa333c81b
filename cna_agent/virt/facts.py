"""What the node is: host facts, the domain type its guests use, and its PCI devices.

protocol.py has no model for a host PCI device, so ``PciDevice`` lives here.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

import libvirt

from cna_agent.errors import Unsupported
from cna_agent.protocol import HostFacts, NumaCell, PciAddress, Wire
from cna_agent.virt.connection import Hypervisor, translate
from cna_agent.virt.stats import memory_kib

DomainType = Literal["kvm", "qemu", "test"]
DomainTypeSetting = Literal["auto", "kvm", "qemu"]
_HW_VIRT_FLAGS = frozenset({"vmx", "svm"})
# PCI class 0x06xxxx: host, ISA and PCI bridges, never passed through.
_BRIDGE_CLASS = 0x06


class PciDevice(Wire):
    """A host PCI device that could be passed through to a guest."""

    name: str
    address: PciAddress
    vendor_id: int
    vendor: str = ""
    product_id: int
    product: str = ""
    pci_class: int
    driver: str | None = None
    iommu_group: int | None = None


def read_cpu_flags(path: Path = Path("/proc/cpuinfo")) -> frozenset[str]:
    """The CPU feature flags of this machine (from the first ``flags`` line)."""
    for line in path.read_text().splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            return frozenset(value.split())
    return frozenset()


def offered_domain_types(caps_xml: str) -> set[str]:
    """Every domain type some guest architecture of the capabilities offers."""
    root = ET.fromstring(caps_xml)
    return {str(d.get("type")) for d in root.iterfind("guest/arch/domain")}


def choose_domain_type(
    caps_xml: str, setting: DomainTypeSetting, cpuinfo_flags: Iterable[str]
) -> DomainType:
    """The domain type guests get: kvm only where it really works (offered and vmx/svm)."""
    offered = offered_domain_types(caps_xml)
    if "test" in offered:
        return "test"
    hw_virt = not _HW_VIRT_FLAGS.isdisjoint(cpuinfo_flags)
    if setting == "kvm" or (setting == "auto" and "kvm" in offered and hw_virt):
        if "kvm" not in offered:
            raise Unsupported("CNA_DOMAIN_TYPE=kvm but libvirt offers no kvm domains here")
        return "kvm"
    if "qemu" not in offered:
        raise Unsupported(f"libvirt offers no qemu (TCG) domains here (offers {sorted(offered)})")
    return "qemu"


def host_facts(
    hv: Hypervisor,
    *,
    domain_type_setting: DomainTypeSetting,
    agent_version: str,
    cpuinfo_flags: Iterable[str] | None = None,
) -> HostFacts:
    """The node's facts from libvirt (``cpuinfo_flags`` defaults to this machine's)."""
    flags = read_cpu_flags() if cpuinfo_flags is None else cpuinfo_flags
    with translate():
        conn = hv.conn
        info = conn.getInfo()
        caps_xml = str(conn.getCapabilities())
        domain_type = choose_domain_type(caps_xml, domain_type_setting, flags)
        hostname = str(conn.getHostname())
        hypervisor = f"{conn.getType()} {format_version(int(conn.getVersion()))}"
        libvirt_version = format_version(int(conn.getLibVersion()))
        # getInfo() counts NUMA cells' memory, which some VMs under-report; /proc/meminfo
        # (what getMemoryStats reads) is the total the kernel can give guests.
        memory_mib = memory_kib(conn)[0] // 1024
    nodes, sockets, cores, threads = (int(v) for v in info[4:8])
    caps = ET.fromstring(caps_xml)
    return HostFacts(
        hostname=hostname,
        arch=str(info[0]),
        cpu_model=caps.findtext("host/cpu/model") or str(info[0]),
        cpu_vendor=caps.findtext("host/cpu/vendor") or "",
        cpu_sockets=nodes * sockets,
        cpu_cores=cores,
        cpu_threads=threads,
        cpus=int(info[2]),
        cpu_mhz=int(info[3]),
        memory_mib=memory_mib,
        numa_cells=numa_cells(caps),
        hypervisor=hypervisor,
        libvirt_version=libvirt_version,
        domain_type=domain_type,
        hw_virt=domain_type == "kvm",
        agent_version=agent_version,
    )


def format_version(number: int) -> str:
    """libvirt's version number (major * 1,000,000 + minor * 1,000 + release) as text."""
    return f"{number // 1_000_000}.{number // 1_000 % 1_000}.{number % 1_000}"


def numa_cells(caps: ET.Element) -> list[NumaCell]:
    """The NUMA cells of parsed capabilities XML."""
    return [
        NumaCell(
            id=int(cell.get("id", "0")),
            cpus=[int(cpu.get("id", "0")) for cpu in cell.iterfind("cpus/cpu")],
            memory_mib=_kib(cell.find("memory")) // 1024,
        )
        for cell in caps.iterfind("host/topology/cells/cell")
    ]


def pci_devices(hv: Hypervisor) -> list[PciDevice]:
    """The node's PCI devices that are not bridges, as candidates for passthrough."""
    with translate():
        flags = libvirt.VIR_CONNECT_LIST_NODE_DEVICES_CAP_PCI_DEV
        xmls = [str(dev.XMLDesc(0)) for dev in hv.conn.listAllDevices(flags)]
    found = [parse_pci_device(xml) for xml in xmls]
    return sorted((d for d in found if d.pci_class >> 16 != _BRIDGE_CLASS), key=lambda d: d.name)


def parse_pci_device(xml: str) -> PciDevice:
    """A PciDevice from a node device's XML."""
    root = ET.fromstring(xml)
    cap = root.find("capability[@type='pci']")
    if cap is None:
        raise ValueError(f"node device {root.findtext('name')} is not a PCI device")
    vendor, product = cap.find("vendor"), cap.find("product")
    group = cap.find("iommuGroup")
    return PciDevice(
        name=root.findtext("name", ""),
        address=PciAddress(
            domain=int(cap.findtext("domain", "0")),
            bus=int(cap.findtext("bus", "0")),
            slot=int(cap.findtext("slot", "0")),
            function=int(cap.findtext("function", "0")),
        ),
        vendor_id=int(vendor.get("id", "0") if vendor is not None else "0", 16),
        vendor=(vendor.text or "") if vendor is not None else "",
        product_id=int(product.get("id", "0") if product is not None else "0", 16),
        product=(product.text or "") if product is not None else "",
        pci_class=int(cap.findtext("class", "0"), 16),
        driver=root.findtext("driver/name"),
        iommu_group=None if group is None else int(group.get("number", "0")),
    )


def _kib(el: ET.Element | None) -> int:
    # Capabilities report cell memory in KiB.
    return 0 if el is None or not el.text else int(el.text)
