"""The definition a running domain takes to another node: its live, migratable XML with
the paths of its files on that node (pools and the seed directory may differ)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Collection, Mapping
from uuid import UUID

import libvirt

from cna_agent.virt.connection import Hypervisor, translate


def destination_xml(
    hv: Hypervisor,
    uuid: UUID,
    *,
    disk_paths: Mapping[str, str],
    moved_files: Mapping[str, str],
    copied: Collection[str] = (),
) -> str:
    """The domain's migratable XML (with its VNC password), each disk's source file set
    to the target's path by device (``vda`` ...) and any other file in ``moved_files``
    (a seed ISO: source path -> target path) replaced. A ``copied`` disk (its data goes
    into a new, flat volume) loses its backing chain."""
    flags = libvirt.VIR_DOMAIN_XML_MIGRATABLE | libvirt.VIR_DOMAIN_XML_SECURE
    with translate():
        xml = hv.conn.lookupByUUIDString(str(uuid)).XMLDesc(flags)
    return relocated(xml, disk_paths=disk_paths, moved_files=moved_files, copied=copied)


def relocated(
    xml: str,
    *,
    disk_paths: Mapping[str, str],
    moved_files: Mapping[str, str],
    copied: Collection[str] = (),
) -> str:
    """``xml`` with the files of its disks moved (see ``destination_xml``)."""
    root = ET.fromstring(xml)
    for disk in root.iterfind("devices/disk"):
        source, target = disk.find("source"), disk.find("target")
        if source is None or target is None or source.get("file") is None:
            continue
        device = target.get("dev", "")
        path = disk_paths.get(device) or moved_files.get(source.get("file", ""))
        if path:
            source.set("file", path)
        if device in copied:
            for chain in disk.findall("backingStore"):
                disk.remove(chain)
    return ET.tostring(root, encoding="unicode")
