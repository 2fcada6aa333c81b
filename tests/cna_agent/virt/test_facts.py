"""Host facts, the domain type choice and PCI devices."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from cna_agent.errors import Unsupported
from cna_agent.virt.connection import Hypervisor
from cna_agent.virt.facts import (
    DomainTypeSetting,
    choose_domain_type,
    format_version,
    host_facts,
    numa_cells,
    parse_pci_device,
    pci_devices,
    read_cpu_flags,
)


def caps(*domain_types: str) -> str:
    """Capabilities XML whose x86_64 guests offer ``domain_types``."""
    root = ET.Element("capabilities")
    arch = ET.SubElement(ET.SubElement(root, "guest"), "arch", name="x86_64")
    for domain_type in domain_types:
        ET.SubElement(arch, "domain", type=domain_type)
    return ET.tostring(root, encoding="unicode")


@pytest.mark.parametrize(
    ("offered", "setting", "flags", "chosen"),
    [
        (("qemu", "kvm"), "auto", {"fpu", "vmx"}, "kvm"),
        (("qemu", "kvm"), "auto", {"svm"}, "kvm"),
        (("qemu", "kvm"), "auto", {"fpu"}, "qemu"),  # /dev/kvm without hardware support
        (("qemu",), "auto", {"vmx"}, "qemu"),  # KVM hidden from libvirt
        (("qemu", "kvm"), "qemu", {"vmx"}, "qemu"),
        (("qemu", "kvm"), "kvm", set(), "kvm"),
        (("test",), "kvm", {"vmx"}, "test"),
    ],
)
def test_choose_domain_type(
    offered: tuple[str, ...], setting: DomainTypeSetting, flags: set[str], chosen: str
) -> None:
    assert choose_domain_type(caps(*offered), setting, flags) == chosen


def test_kvm_demanded_but_not_offered() -> None:
    with pytest.raises(Unsupported, match="kvm"):
        choose_domain_type(caps("qemu"), "kvm", {"vmx"})


def test_nothing_usable_offered() -> None:
    with pytest.raises(Unsupported, match="no qemu"):
        choose_domain_type(caps("xen"), "auto", set())


def test_read_cpu_flags(tmp_path: Path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu vme svm\nbugs\t: x\n")
    assert read_cpu_flags(cpuinfo) == {"fpu", "vme", "svm"}
    cpuinfo.write_text("processor\t: 0\n")
    assert read_cpu_flags(cpuinfo) == frozenset()


def test_format_version() -> None:
    assert format_version(9_000_000) == "9.0.0"
    assert format_version(7_002_022) == "7.2.22"


def test_numa_cells() -> None:
    root = ET.fromstring(
        "<capabilities><host><topology><cells num='1'><cell id='0'>"
        "<memory unit='KiB'>2097152</memory>"
        "<cpus num='2'><cpu id='0'/><cpu id='1'/></cpus>"
        "</cell></cells></topology></host></capabilities>"
    )
    [cell] = numa_cells(root)
    assert (cell.id, cell.cpus, cell.memory_mib) == (0, [0, 1], 2048)


def test_parse_pci_device() -> None:
    device = parse_pci_device(
        "<device><name>pci_0000_3b_00_1</name><driver><name>ixgbe</name></driver>"
        "<capability type='pci'><class>0x020000</class><domain>0</domain><bus>59</bus>"
        "<slot>0</slot><function>1</function>"
        "<product id='0x10fb'>82599ES SFP+</product><vendor id='0x8086'>Intel</vendor>"
        "<iommuGroup number='42'><address domain='0x0000' bus='0x3b' slot='0x00'"
        " function='0x1'/></iommuGroup></capability></device>"
    )
    assert device.name == "pci_0000_3b_00_1"
    assert (device.address.bus, device.address.slot, device.address.function) == (59, 0, 1)
    assert (device.vendor_id, device.vendor, device.product_id) == (0x8086, "Intel", 0x10FB)
    assert (device.pci_class, device.driver, device.iommu_group) == (0x020000, "ixgbe", 42)


def test_host_facts_on_test_driver(test_hv: Hypervisor) -> None:
    facts = host_facts(test_hv, domain_type_setting="auto", agent_version="1.2.3")
    assert (facts.domain_type, facts.hw_virt) == ("test", False)
    assert facts.cpus == facts.cpu_sockets * facts.cpu_cores * facts.cpu_threads
    assert [c.id for c in facts.numa_cells] == [0, 1]
    assert facts.libvirt_version.startswith("9.")
    assert facts.agent_version == "1.2.3"


def test_host_facts_on_qemu(qemu_hv: Hypervisor) -> None:
    facts = host_facts(qemu_hv, domain_type_setting="auto", agent_version="0.1.0")
    # No usable KVM on this machine: guests are TCG.
    assert (facts.domain_type, facts.hw_virt) == ("qemu", False)
    assert facts.hypervisor.startswith("QEMU ")
    assert facts.libvirt_version == "9.0.0"
    assert facts.cpus >= 1
    assert facts.cpu_mhz > 0
    assert facts.memory_mib > 0
    assert sum(len(c.cpus) for c in facts.numa_cells) == facts.cpus


def test_pci_devices_on_qemu(qemu_hv: Hypervisor) -> None:
    devices = pci_devices(qemu_hv)
    assert devices, "a machine has PCI devices"
    assert all(d.name.startswith("pci_") for d in devices)
    assert all(d.pci_class >> 16 != 0x06 for d in devices)  # no bridges
