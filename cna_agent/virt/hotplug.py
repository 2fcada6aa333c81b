"""Changes to a defined domain: vCPUs, balloon memory and devices, live and persistent.

Each change applies to every scope the domain has: the running guest (``LIVE``) and
the persistent definition (``CONFIG``). A scope that already has the change is
skipped, so every call is idempotent. Callers wrap these in ``translate()``.
"""

from __future__ import annotations

import json
import logging
import xml.etree.ElementTree as ET
from collections.abc import Callable

import libvirt
import libvirt_qemu

from cna_agent.errors import AgentError, InvalidSpec, NotFound, StateConflict, Unsupported
from cna_agent.virt.connection import translate
from cna_agent.virt.devxml import NS, NS_PREFIX, Metadata, disk_target, media_path, set_media
from cna_agent.virt.domxml import cpu_quota_us

log = logging.getLogger(__name__)

LIVE = libvirt.VIR_DOMAIN_AFFECT_LIVE
CONFIG = libvirt.VIR_DOMAIN_AFFECT_CONFIG
Finder = Callable[[ET.Element], "ET.Element | None"]


def scopes(dom: libvirt.virDomain) -> list[int]:
    """The scopes a change must reach: the running guest and/or the persistent config."""
    found = [LIVE] if dom.isActive() else []
    return found + ([CONFIG] if dom.isPersistent() else [])


def domain_xml(dom: libvirt.virDomain, scope: int) -> ET.Element:
    """The domain XML of one scope (live or persistent)."""
    flags = libvirt.VIR_DOMAIN_XML_INACTIVE if scope == CONFIG else 0
    return ET.fromstring(str(dom.XMLDesc(flags)))


def set_vcpus(dom: libvirt.virDomain, vcpus: int) -> None:
    """Set the vCPU count; the CPU limit's per-vCPU quota follows."""
    maximum = int(dom.vcpusFlags(scopes(dom)[0] | libvirt.VIR_DOMAIN_VCPU_MAXIMUM))
    if vcpus > maximum:
        raise InvalidSpec(
            f"{vcpus} vCPUs exceed the domain's maximum of {maximum}",
            details={"vcpus": vcpus, "max_vcpus": maximum},
        )
    # Live first: when the guest refuses, the persistent config stays as it was.
    for scope in scopes(dom):
        current = int(dom.vcpusFlags(scope))
        if current == vcpus:
            continue
        if scope == LIVE and vcpus < current:
            _unplug_vcpus(dom, vcpus, current)
        else:
            dom.setVcpusFlags(vcpus, scope)
    _retune_quota(dom, vcpus)


def _unplug_vcpus(dom: libvirt.virDomain, vcpus: int, current: int) -> None:
    try:
        with translate():
            dom.setVcpusFlags(vcpus, LIVE)
    except AgentError as exc:
        raise Unsupported(
            f"vCPU hot-unplug ({current} -> {vcpus}) failed on the running guest "
            f"(TCG guests cannot unplug vCPUs; stop the VM to remove vCPUs): {exc.message}",
            code="vcpu_unplug_unsupported",
            details={"vcpus": vcpus, "current": current},
        ) from exc


def _retune_quota(dom: libvirt.virDomain, vcpus: int) -> None:
    meta = Metadata.from_domain(domain_xml(dom, scopes(dom)[0]))
    if meta.cpu_limit_mhz <= 0:
        return
    quota = cpu_quota_us(meta.cpu_limit_mhz, meta.host_mhz, vcpus)
    # A negative quota means "no bandwidth limit" to libvirt.
    params = {"vcpu_quota": -1 if quota is None else quota}
    for scope in scopes(dom):
        dom.setSchedulerParametersFlags(params, scope)


def set_memory(dom: libvirt.virDomain, memory_mib: int) -> None:
    """Set the balloon target (live) and the current memory (config), within the maximum."""
    maximum_kib = int(dom.maxMemory())
    if memory_mib * 1024 > maximum_kib:
        raise InvalidSpec(
            f"{memory_mib} MiB exceed the domain's maximum of {maximum_kib // 1024} MiB",
            details={"memory_mib": memory_mib, "max_memory_mib": maximum_kib // 1024},
        )
    for scope in scopes(dom):
        dom.setMemoryFlags(memory_mib * 1024, scope)


def attach(dom: libvirt.virDomain, element: ET.Element, find: Finder) -> None:
    """Attach a device to every scope that lacks it (one call, so both get one address)."""
    flags = 0
    for scope in scopes(dom):
        if find(_devices(dom, scope)) is None:
            flags |= scope
    if flags:
        dom.attachDeviceFlags(ET.tostring(element, encoding="unicode"), flags)


def update(dom: libvirt.virDomain, element: ET.Element, find: Finder) -> None:
    """Change a device in place (a NIC's filter parameters, say) in every scope that has it;
    NotFound ``device_not_found`` when none has."""
    flags = 0
    for scope in scopes(dom):
        if find(_devices(dom, scope)) is not None:
            flags |= scope
    if not flags:
        raise NotFound("the domain has no such device", code="device_not_found")
    dom.updateDeviceFlags(ET.tostring(element, encoding="unicode"), flags)


def detach(dom: libvirt.virDomain, find: Finder) -> None:
    """Detach a device from every scope that has it.

    A live detach is a request to the guest: one without an OS never completes it,
    and libvirt answers success after its own wait while the device stays.
    """
    for scope in scopes(dom):
        element = find(_devices(dom, scope))
        if element is not None:
            dom.detachDeviceFlags(ET.tostring(element, encoding="unicode"), scope)


def change_media(dom: libvirt.virDomain, device: str, path: str | None, fmt: str) -> None:
    """Put the file at ``path`` in the CD-ROM ``device`` (None ejects) in every scope
    that holds something else; live, a tray the guest locked is opened by force."""
    for scope in scopes(dom):
        el = find_one("disk", disk_target, device)(_devices(dom, scope))
        if el is None:
            raise NotFound(f"the domain has no device {device}", code="device_not_found")
        if el.get("device") != "cdrom":
            raise StateConflict(
                f"device {device} is a disk, not a CD-ROM: it has no media to change",
                code="not_a_cdrom",
                details={"device": device},
            )
        if media_path(el) == path:
            continue
        xml = ET.tostring(set_media(el, path, fmt), encoding="unicode")
        if scope == LIVE:
            _change_live_media(dom, el, xml)
        else:
            dom.updateDeviceFlags(xml, scope)


def _change_live_media(dom: libvirt.virDomain, el: ET.Element, xml: str) -> None:
    """Change a running guest's media, opening a locked tray by force.

    Right after a start on a loaded host (SeaBIOS still probing the drive, we think)
    QEMU's tray can end up closed again without a DEVICE_TRAY_MOVED event: libvirt
    believes it open, skips opening it, and every later change fails with "Tray ... is
    not open" (seen on 5 of 30 starts with both cores busy). We then open the tray
    through the QEMU monitor (libvirt marks the domain tainted) and try once more.
    """
    flags = LIVE | libvirt.VIR_DOMAIN_DEVICE_MODIFY_FORCE
    try:
        dom.updateDeviceFlags(xml, flags)
    except libvirt.libvirtError as exc:
        alias = el.find("alias")
        qdev = None if alias is None else alias.get("name")
        if "is not open" not in str(exc) or not qdev:
            raise
        log.warning("tray of %s closed behind libvirt's back: opening it by monitor", qdev)
        command = {"execute": "blockdev-open-tray", "arguments": {"id": qdev, "force": True}}
        libvirt_qemu.qemuMonitorCommand(dom, json.dumps(command), 0)
        dom.updateDeviceFlags(xml, flags)


def record_volume(dom: libvirt.virDomain, device: str, pool: str, volume: str) -> None:
    """Remember which pool/volume backs a disk device, in the domain's metadata."""
    # Entries of detached devices stay: harmless (reports list real disks only) and
    # overwritten when the device name is reused.
    _update_metadata(dom, lambda meta: meta.volumes.__setitem__(device, (pool, volume)))


def forget_volume(dom: libvirt.virDomain, device: str) -> None:
    """Forget the volume of a device (an ejected CD-ROM holds none)."""

    def forget(meta: Metadata) -> None:
        meta.volumes.pop(device, None)

    _update_metadata(dom, forget)


def _update_metadata(dom: libvirt.virDomain, change: Callable[[Metadata], None]) -> None:
    """Apply ``change`` to the domain's metadata, live and persistent alike."""
    flags = 0
    for scope in scopes(dom):
        flags |= scope
    meta = Metadata.from_domain(domain_xml(dom, scopes(dom)[0]))
    change(meta)
    xml = ET.tostring(meta.element(ns=None), encoding="unicode")
    dom.setMetadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, xml, NS_PREFIX, NS, flags)


def record_port(dom: libvirt.virDomain, mac: str, network: str, portgroup: str) -> None:
    """Remember the network and port group of a filtered NIC, in the domain's metadata."""
    _update_metadata(dom, lambda meta: meta.ports.__setitem__(mac, (network, portgroup)))


def find_one(tag: str, key: Callable[[ET.Element], object], value: object) -> Finder:
    """A finder for the device element with ``tag`` whose ``key`` equals ``value``."""

    def find(devices: ET.Element) -> ET.Element | None:
        return next((el for el in devices.findall(tag) if key(el) == value), None)

    return find


def _devices(dom: libvirt.virDomain, scope: int) -> ET.Element:
    devices = domain_xml(dom, scope).find("devices")
    if devices is None:
        raise NotFound("domain XML has no <devices>", code="device_not_found")
    return devices
