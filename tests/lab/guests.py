"""Guests for lab tests: TCG domains without an OS, and memory that takes time to migrate.

A guest without an OS has almost only zero pages, which QEMU migrates nearly for free.
To make a migration last (so that it can be watched, aborted or timed out), QEMU's
generic loader copies a file of random bytes into guest RAM at start
(``-device loader`` through ``<qemu:commandline>``): those pages must really be sent.
"""

from __future__ import annotations

import os
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import libvirt

QEMU_NS = "http://libvirt.org/schemas/domain/qemu/1.0"
# Guest-physical address of the random block: above the BIOS areas, below 128 MiB.
BLOB_ADDRESS = 0x4000000


def domain_xml(
    name: str,
    *,
    memory_mib: int = 128,
    disk: Path | None = None,
    blob: Path | None = None,
    network: tuple[str, str] | None = None,
    bridge: str | None = None,
    filter_ip: str | None = None,
) -> str:
    """A TCG domain with an optional qcow2 disk and random RAM block, and a NIC on a
    libvirt network's port group (``network``: name, port group) or on a Linux bridge
    (with libvirt's ``clean-traffic`` filter when given ``filter_ip``)."""
    ET.register_namespace("qemu", QEMU_NS)
    root = ET.Element("domain", type="qemu")
    ET.SubElement(root, "name").text = name
    ET.SubElement(root, "memory", unit="MiB").text = str(memory_mib)
    ET.SubElement(root, "vcpu").text = "1"
    os_el = ET.SubElement(root, "os")
    ET.SubElement(os_el, "type", arch="x86_64", machine="pc").text = "hvm"
    devices = ET.SubElement(root, "devices")
    if disk is not None:
        disk_el = ET.SubElement(devices, "disk", type="file", device="disk")
        ET.SubElement(disk_el, "driver", name="qemu", type="qcow2")
        ET.SubElement(disk_el, "source", file=str(disk))
        ET.SubElement(disk_el, "target", dev="vda", bus="virtio")
    if network is not None:
        nic = ET.SubElement(devices, "interface", type="network")
        ET.SubElement(nic, "source", network=network[0], portgroup=network[1])
        ET.SubElement(nic, "model", type="virtio")
    if bridge is not None:
        nic = ET.SubElement(devices, "interface", type="bridge")
        ET.SubElement(nic, "source", bridge=bridge)
        if filter_ip is not None:
            ref = ET.SubElement(nic, "filterref", filter="clean-traffic")
            ET.SubElement(ref, "parameter", name="IP", value=filter_ip)
    if blob is not None:
        args = ET.SubElement(root, f"{{{QEMU_NS}}}commandline")
        for value in ("-device", f"loader,file={blob},addr={BLOB_ADDRESS:#x}"):
            ET.SubElement(args, f"{{{QEMU_NS}}}arg", value=value)
    return ET.tostring(root, encoding="unicode")


def make_disk(path: Path, size: str = "64M") -> Path:
    """An empty qcow2 image that QEMU (user libvirt-qemu) may open."""
    subprocess.run(
        ["qemu-img", "create", "-q", "-f", "qcow2", str(path), size], check=True, timeout=30
    )
    path.chmod(0o644)
    return path


def make_blob(path: Path, size_mib: int) -> Path:
    """A file of random bytes for the generic loader."""
    with path.open("wb") as out:
        for _ in range(size_mib):
            out.write(os.urandom(1 << 20))
    path.chmod(0o644)
    return path


def start(conn: libvirt.virConnect, xml: str) -> libvirt.virDomain:
    """Define and start a persistent domain."""
    dom = conn.defineXML(xml)
    dom.create()
    return dom


def names(conn: libvirt.virConnect) -> dict[str, bool]:
    """Every domain of a host by name, with whether it is running."""
    return {str(d.name()): bool(d.isActive()) for d in conn.listAllDomains()}


def remove(conn: libvirt.virConnect, name: str) -> None:
    """Destroy and undefine a domain if it exists."""
    try:
        dom = conn.lookupByName(name)
    except libvirt.libvirtError:
        return
    if dom.isActive():
        dom.destroy()
    if dom.isPersistent():
        dom.undefine()
