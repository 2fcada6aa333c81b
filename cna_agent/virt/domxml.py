"""Domain XML from a DomainSpec, and a DomainReport from domain XML.

CPU limit (FusionCompute "limit MHz", for the whole VM) becomes a CFS bandwidth
per vCPU thread, since libvirt's ``<quota>`` applies to each vCPU:

    quota_us = period_us * limit_mhz / (host_mhz * vcpus)      period_us = 100000

floored at libvirt's minimum of 1000 us. When each vCPU's share is at least a whole
host CPU (``limit_mhz >= host_mhz * vcpus``) there is nothing to limit and no quota
is written. The quota depends on the vCPU count, so a vCPU change recomputes it.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable

from cna_agent.protocol import (
    ConsoleInfo,
    DiskSpec,
    DomainReport,
    DomainSpec,
    DomainState,
)
from cna_agent.virt.devxml import (
    Metadata,
    disk_element,
    disk_from_element,
    hostdev_element,
    nic_element,
    nic_from_element,
    seed_element,
)

CFS_PERIOD_US = 100_000
CFS_MIN_QUOTA_US = 1_000
_LIFECYCLE = (("on_poweroff", "destroy"), ("on_reboot", "restart"), ("on_crash", "destroy"))
_KIB_PER_UNIT = {"b": 1 / 1024, "bytes": 1 / 1024, "k": 1, "kib": 1, "m": 1024, "mib": 1024}
_KIB_PER_UNIT |= {"g": 1024**2, "gib": 1024**2}


def cpu_quota_us(limit_mhz: int, host_mhz: int, vcpus: int) -> int | None:
    """The CFS quota per vCPU (us per 100 ms period) for a VM limit; None when unlimited."""
    if limit_mhz <= 0 or host_mhz <= 0 or limit_mhz >= host_mhz * vcpus:
        return None
    return max(CFS_MIN_QUOTA_US, CFS_PERIOD_US * limit_mhz // (host_mhz * vcpus))


def build_domain_xml(
    spec: DomainSpec,
    *,
    domain_type: str,
    resolve_disk: Callable[[DiskSpec], str],
    host_mhz: int,
    seed_path: str | None = None,
) -> str:
    """The libvirt domain XML of a spec; ``resolve_disk`` gives each disk's file path (an
    empty CD-ROM has none), ``seed_path`` the file of its cloud-init seed (when
    ``spec.seed`` is set)."""
    root = ET.Element("domain", type=domain_type)
    _text(root, "name", spec.name)
    _text(root, "uuid", str(spec.uuid))
    metadata = ET.SubElement(root, "metadata")
    metadata.append(_metadata(spec, host_mhz).element())
    _text(root, "memory", str(spec.max_memory_mib * 1024), unit="KiB")
    _text(root, "currentMemory", str(spec.memory_mib * 1024), unit="KiB")
    _text(root, "vcpu", str(spec.max_vcpus), placement="static", current=str(spec.vcpus))
    root.append(_cputune(spec, host_mhz))
    if spec.cpu_model is not None:
        # Exactly this model, or the domain does not start: it must run on every host.
        cpu = ET.SubElement(root, "cpu", mode="custom", match="exact", check="partial")
        _text(cpu, "model", spec.cpu_model, fallback="forbid")
    root.append(_os(spec))
    features = ET.SubElement(root, "features")
    # ACPI: NIC/disk hot-plug and graceful shutdown go through it.
    ET.SubElement(features, "acpi")
    ET.SubElement(features, "apic")
    ET.SubElement(root, "clock", offset="utc")
    for event, action in _LIFECYCLE:
        _text(root, event, action)
    root.append(_devices(spec, resolve_disk, seed_path))
    return ET.tostring(root, encoding="unicode")


def parse_domain_xml(xml: str, state: DomainState, persistent: bool) -> DomainReport:
    """A DomainReport from domain XML (live XML for a running domain)."""
    root = ET.fromstring(xml)
    meta = Metadata.from_domain(root)
    vcpu = _find(root, "vcpu")
    max_vcpus = int(vcpu.text or "1")
    devices = root.find("devices")
    elements = [] if devices is None else list(devices)
    disks = [disk_from_element(el, meta.volumes) for el in elements if el.tag == "disk"]
    nics = [nic_from_element(el, meta.ports) for el in elements if el.tag == "interface"]
    return DomainReport(
        uuid=_find(root, "uuid").text or "",
        name=_find(root, "name").text or "",
        state=state,
        persistent=persistent,
        vcpus=int(vcpu.get("current", max_vcpus)),
        max_vcpus=max_vcpus,
        memory_mib=_mib(_find(root, "currentMemory")),
        max_memory_mib=_mib(_find(root, "memory")),
        disks=[d for d in disks if d is not None],
        nics=[n for n in nics if n is not None],
        console=console_info(root),
    )


def console_info(root: ET.Element) -> ConsoleInfo | None:
    """The consoles in a running domain's live XML (VNC socket, serial port); None when
    the domain is not running (its XML has no id) or has neither."""
    if root.get("id") is None:
        return None
    socket = vnc_socket(root)
    serial = serial_pty(root) is not None
    if socket is None and not serial:
        return None
    return ConsoleInfo(vnc_socket=socket, serial=serial)


def vnc_socket(root: ET.Element) -> str | None:
    """The path of the VNC UNIX socket libvirt chose (live XML only)."""
    graphics = root.find("devices/graphics[@type='vnc']")
    if graphics is None:
        return None
    listen = graphics.find("listen[@type='socket']")
    return graphics.get("socket") or (None if listen is None else listen.get("socket"))


def serial_pty(root: ET.Element) -> str | None:
    """The pseudo-terminal of the first serial port (live XML of a ``pty`` serial only)."""
    for serial in root.findall("devices/serial[@type='pty']"):
        target = serial.find("target")
        source = serial.find("source")
        if (target is None or target.get("port", "0") == "0") and source is not None:
            return source.get("path")
    return None


def _metadata(spec: DomainSpec, host_mhz: int) -> Metadata:
    return Metadata(
        volumes={d.device: (d.pool, d.volume) for d in spec.disks if d.pool and d.volume},
        ports={n.mac: (n.network, n.portgroup or "") for n in spec.nics if n.ips},
        cpu_limit_mhz=spec.cpu_limit_mhz,
        cpu_reservation_mhz=spec.cpu_reservation_mhz,
        host_mhz=host_mhz,
    )


def _cputune(spec: DomainSpec, host_mhz: int) -> ET.Element:
    # Reservation has no libvirt knob: VRM's admission control honours it (kept in metadata).
    cputune = ET.Element("cputune")
    _text(cputune, "shares", str(spec.cpu_shares))
    quota = cpu_quota_us(spec.cpu_limit_mhz, host_mhz, spec.vcpus)
    if quota is not None:
        _text(cputune, "period", str(CFS_PERIOD_US))
        _text(cputune, "quota", str(quota))
    return cputune


def _os(spec: DomainSpec) -> ET.Element:
    os_el = ET.Element("os")
    _text(os_el, "type", "hvm", machine=spec.machine)
    if spec.direct_boot is not None:
        _text(os_el, "kernel", spec.direct_boot.kernel)
        if spec.direct_boot.initrd is not None:
            _text(os_el, "initrd", spec.direct_boot.initrd)
        _text(os_el, "cmdline", spec.direct_boot.cmdline)
    # libvirt refuses <boot dev> together with per-device <boot order>.
    per_device = any(d.boot_order for d in spec.disks) or any(n.boot_order for n in spec.nics)
    if not per_device and spec.direct_boot is None:
        for device in spec.boot:
            ET.SubElement(os_el, "boot", dev=device.value)
    return os_el


def _devices(
    spec: DomainSpec,
    resolve_disk: Callable[[DiskSpec], str],
    seed_path: str | None,
) -> ET.Element:
    devices = ET.Element("devices")
    if any(d.bus == "scsi" for d in spec.disks):
        # Without it libvirt picks an emulated LSI controller.
        ET.SubElement(devices, "controller", type="scsi", index="0", model="virtio-scsi")
    devices.extend(disk_element(d, None if d.empty else resolve_disk(d)) for d in spec.disks)
    if spec.seed is not None and seed_path is not None:
        devices.append(seed_element(seed_path))
    devices.extend(nic_element(n) for n in spec.nics)
    devices.extend(hostdev_element(a) for a in spec.hostdevs)
    if spec.console is not None:
        devices.append(_vnc())
    # ttyS0: boot output and the serial console (a virtio console shows nothing until
    # the guest loads its driver).
    serial = ET.SubElement(devices, "serial", type="pty")
    ET.SubElement(serial, "target", port="0")
    console = ET.SubElement(devices, "console", type="pty")
    ET.SubElement(console, "target", type="serial", port="0")
    ET.SubElement(devices, "memballoon", model="virtio")
    return devices


def _vnc() -> ET.Element:
    """VNC on a UNIX socket only (libvirt puts it in the domain's private, root-only
    folder), never a network address. Shared clients coexist; one that asks for the
    display alone (RFB shared-flag 0) disconnects the others."""
    graphics = ET.Element("graphics", type="vnc", sharePolicy="allow-exclusive")
    ET.SubElement(graphics, "listen", type="socket")
    return graphics


def _text(parent: ET.Element, tag: str, text: str, **attrs: str) -> ET.Element:
    el = ET.SubElement(parent, tag, attrs)
    el.text = text
    return el


def _find(root: ET.Element, path: str) -> ET.Element:
    el = root.find(path)
    if el is None:
        raise ValueError(f"domain XML lacks <{path}>")
    return el


def _mib(el: ET.Element) -> int:
    kib = int(el.text or "0") * _KIB_PER_UNIT[el.get("unit", "KiB").lower()]
    return int(kib // 1024)
