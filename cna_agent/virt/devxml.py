"""Device XML of a domain (disks, NICs, PCI host devices) and OpenVRM's metadata, both ways.

Elements are built and read with ElementTree, never by string formatting. The
metadata element (namespace ``NS``) keeps what libvirt's own XML cannot say: which
pool/volume backs each disk file, which network and port group each filtered NIC is on,
and the CPU QoS inputs behind ``<cputune>``.
"""

from __future__ import annotations

import copy
import logging
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from pydantic import ValidationError

from cna_agent.protocol import SEED_DEVICE, DiskSpec, NicSpec, PciAddress
from cna_agent.virt.nwfilter import filtered_ips, filterref_element
from cna_agent.virt.plug import PlugNames

log = logging.getLogger(__name__)

DEFAULT_MTU = 1500

NS = "https://openvrm.org/xmlns/domain/1"
NS_PREFIX = "ovrm"
META_TAG = "vm"
ET.register_namespace(NS_PREFIX, NS)


def disk_element(disk: DiskSpec, path: str | None) -> ET.Element:
    """The ``<disk>`` of a disk or CD-ROM backed by the file at ``path``; a CD-ROM without
    a path has an empty tray (no ``<source>``)."""
    el = ET.Element("disk", type="file", device=disk.kind)
    ET.SubElement(el, "driver", name="qemu", type=disk.format)
    if path is not None:
        ET.SubElement(el, "source", file=path)
    ET.SubElement(el, "target", dev=disk.device, bus=disk.bus)
    if disk.readonly or disk.kind == "cdrom":
        ET.SubElement(el, "readonly")
    if disk.boot_order is not None:
        ET.SubElement(el, "boot", order=str(disk.boot_order))
    return el


def seed_element(path: str) -> ET.Element:
    """The read-only IDE CD-ROM of a cloud-init seed ISO (its own device, ``SEED_DEVICE``)."""
    el = ET.Element("disk", type="file", device="cdrom")
    ET.SubElement(el, "driver", name="qemu", type="raw")
    ET.SubElement(el, "source", file=path)
    ET.SubElement(el, "target", dev=SEED_DEVICE, bus="ide")
    ET.SubElement(el, "readonly")
    return el


def nic_element(nic: NicSpec) -> ET.Element:
    """The ``<interface>`` of a NIC: on a port group of a libvirt network, or, when it has
    bound addresses, on its own Linux bridge with the IP-MAC filter (see ``plug``)."""
    el = ET.Element("interface", type="bridge" if nic.ips else "network")
    ET.SubElement(el, "mac", address=nic.mac)
    if nic.ips:
        ET.SubElement(el, "source", bridge=PlugNames.of(nic.mac).bridge)
    else:
        source = ET.SubElement(el, "source", network=nic.network)
        if nic.portgroup is not None:
            source.set("portgroup", nic.portgroup)
    ET.SubElement(el, "model", type=nic.model)
    if nic.boot_order is not None:
        ET.SubElement(el, "boot", order=str(nic.boot_order))
    if nic.ips:
        # Its own bridge has the DVS's MTU (see plug); a NIC on the network gets it anyway.
        if nic.mtu != DEFAULT_MTU:
            ET.SubElement(el, "mtu", size=str(nic.mtu))
        el.append(filterref_element(nic.ips))
    return el


def hostdev_element(address: PciAddress) -> ET.Element:
    """The ``<hostdev>`` passing a host PCI device through (libvirt detaches it from its driver)."""
    el = ET.Element("hostdev", mode="subsystem", type="pci", managed="yes")
    source = ET.SubElement(el, "source")
    ET.SubElement(
        source,
        "address",
        domain=f"0x{address.domain:04x}",
        bus=f"0x{address.bus:02x}",
        slot=f"0x{address.slot:02x}",
        function=f"0x{address.function:x}",
    )
    return el


def disk_target(el: ET.Element) -> str | None:
    """The target device name (``vda``) of a ``<disk>``."""
    target = el.find("target")
    return None if target is None else target.get("dev")


def nic_mac(el: ET.Element) -> str | None:
    """The MAC address of an ``<interface>``, lower case."""
    mac = el.find("mac")
    address = None if mac is None else mac.get("address")
    return None if address is None else address.lower()


def hostdev_address(el: ET.Element) -> PciAddress | None:
    """The host PCI address of a ``<hostdev type='pci'>``."""
    address = el.find("source/address")
    if el.get("type") != "pci" or address is None:
        return None
    return PciAddress(
        domain=int(address.get("domain", "0"), 0),
        bus=int(address.get("bus", "0"), 0),
        slot=int(address.get("slot", "0"), 0),
        function=int(address.get("function", "0"), 0),
    )


def media_path(el: ET.Element) -> str | None:
    """The file a ``<disk>`` reads (None for an empty CD-ROM tray)."""
    source = el.find("source")
    return None if source is None else source.get("file")


def set_media(el: ET.Element, path: str | None, fmt: str) -> ET.Element:
    """A copy of a CD-ROM's ``<disk>`` holding the file at ``path`` (None: an empty tray),
    everything else (target, boot order, address) as it was."""
    disk = copy.deepcopy(el)
    for source in disk.findall("source"):
        disk.remove(source)
    disk.set("type", "file")
    if path is not None:
        driver = disk.find("driver")
        if driver is None:
            driver = ET.SubElement(disk, "driver", name="qemu")
        driver.set("type", fmt)
        ET.SubElement(disk, "source", file=path)
    return disk


def disk_from_element(el: ET.Element, volumes: dict[str, tuple[str, str]]) -> DiskSpec | None:
    """A ``<disk>`` as a DiskSpec (a CD-ROM without media as an empty one); None for a disk
    with no known pool/volume identity."""
    device = disk_target(el)
    identity = _identity(el, volumes.get(device or ""))
    if device is None or identity is None:
        log.debug("disk %s has no pool/volume identity, not reported", device)
        return None
    target, driver, boot = el.find("target"), el.find("driver"), el.find("boot")
    fields = {
        "device": device,
        "bus": _attr(target, "bus", "virtio"),
        "kind": el.get("device", "disk"),
        "pool": identity[0],
        "volume": identity[1],
        "format": _attr(driver, "type", "raw"),
        "boot_order": _attr(boot, "order", None),
        "readonly": el.find("readonly") is not None,
    }
    try:
        return DiskSpec.model_validate(fields)
    except ValidationError:
        log.debug("disk %s is not expressible as a DiskSpec, not reported", device)
        return None


def nic_from_element(el: ET.Element, ports: dict[str, tuple[str, str]]) -> NicSpec | None:
    """An ``<interface>`` on a network's port group (directly, or through its filtered
    NIC's bridge as ``ports`` records it) as a NicSpec; None for other interfaces."""
    source, model, boot = el.find("source"), el.find("model"), el.find("boot")
    mac = nic_mac(el)
    if source is None or mac is None:
        return None
    if source.get("network") is not None:  # live XML says type='bridge', keeps the network
        network, portgroup = source.get("network"), source.get("portgroup")
    elif el.get("type") == "bridge" and mac in ports:
        network, portgroup = ports[mac]
    else:
        return None
    fields = {
        "mac": mac,
        "network": network,
        "portgroup": portgroup or None,
        "model": _attr(model, "type", "virtio"),
        "boot_order": _attr(boot, "order", None),
        "mtu": _attr(el.find("mtu"), "size", str(DEFAULT_MTU)),
        "ips": filtered_ips(el),
    }
    try:
        return NicSpec.model_validate(fields)
    except ValidationError:
        log.debug("interface %s is not expressible as a NicSpec, not reported", nic_mac(el))
        return None


def _identity(
    el: ET.Element, recorded: tuple[str, str] | None
) -> tuple[str, str] | tuple[None, None] | None:
    """Pool and volume behind a ``<disk>``: (None, None) for an empty CD-ROM tray."""
    source = el.find("source")
    has_media = source is not None and any(source.get(a) for a in ("file", "dev", "volume"))
    if el.get("device") == "cdrom" and not has_media:
        return (None, None)
    return recorded or _source_volume(el)


def _source_volume(el: ET.Element) -> tuple[str, str] | None:
    """A disk defined by libvirt pool/volume (``<disk type='volume'>``) carries its identity."""
    source = el.find("source")
    if el.get("type") != "volume" or source is None:
        return None
    pool, volume = source.get("pool"), source.get("volume")
    return (pool, volume) if pool and volume else None


@dataclass
class Metadata:
    """OpenVRM's own facts about a domain, kept inside its XML."""

    volumes: dict[str, tuple[str, str]] = field(default_factory=dict)
    # Filtered NICs (MAC -> network, port group): their XML names a Linux bridge only.
    ports: dict[str, tuple[str, str]] = field(default_factory=dict)
    cpu_limit_mhz: int = 0
    cpu_reservation_mhz: int = 0
    host_mhz: int = 0

    def element(self, ns: str | None = NS) -> ET.Element:
        """The metadata element; ``ns=None`` for libvirt's setMetadata, which adds the namespace."""
        root = ET.Element(_q(META_TAG, ns))
        ET.SubElement(
            root,
            _q("cpu", ns),
            limit_mhz=str(self.cpu_limit_mhz),
            reservation_mhz=str(self.cpu_reservation_mhz),
            host_mhz=str(self.host_mhz),
        )
        for device, (pool, volume) in sorted(self.volumes.items()):
            ET.SubElement(root, _q("disk", ns), device=device, pool=pool, volume=volume)
        for mac, (network, portgroup) in sorted(self.ports.items()):
            ET.SubElement(root, _q("nic", ns), mac=mac, network=network, portgroup=portgroup)
        return root

    @classmethod
    def from_domain(cls, domain: ET.Element) -> Metadata:
        """The metadata inside a parsed domain XML (empty when the domain is not ours)."""
        root = domain.find(f"metadata/{_q(META_TAG, NS)}")
        meta = cls()
        if root is None:
            return meta
        cpu = root.find(_q("cpu", NS))
        if cpu is not None:
            meta.cpu_limit_mhz = int(cpu.get("limit_mhz", "0"))
            meta.cpu_reservation_mhz = int(cpu.get("reservation_mhz", "0"))
            meta.host_mhz = int(cpu.get("host_mhz", "0"))
        for disk in root.findall(_q("disk", NS)):
            meta.volumes[disk.get("device", "")] = (disk.get("pool", ""), disk.get("volume", ""))
        for nic in root.findall(_q("nic", NS)):
            meta.ports[nic.get("mac", "")] = (nic.get("network", ""), nic.get("portgroup", ""))
        return meta


def _attr(el: ET.Element | None, name: str, default: str | None) -> str | None:
    return default if el is None else el.get(name, default)


def _q(tag: str, ns: str | None) -> str:
    return tag if ns is None else f"{{{ns}}}{tag}"
