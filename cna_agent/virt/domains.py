"""Domains of one hypervisor, by VM uuid: every method is idempotent.

Doing a thing twice has the effect of once: starting a running domain, stopping a
stopped one, attaching a device that is there or deleting what is gone does nothing.
A domain is always looked up by uuid, so a missing one is ``NotFound``
(``domain_not_found``). Storage stays out: ``undefine`` returns the disks' volumes
and the caller deletes them if asked to.
"""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from uuid import UUID

import libvirt

from cna_agent.errors import AlreadyExists, OperationTimeout, StateConflict
from cna_agent.protocol import (
    ConsoleInfo,
    DiskSpec,
    DomainReport,
    DomainSpec,
    DomainState,
    DomainStatus,
    NicSpec,
    PciAddress,
    SnapshotSpec,
)
from cna_agent.virt import consoles, hotplug, snapshots
from cna_agent.virt.connection import Hypervisor, translate
from cna_agent.virt.devxml import (
    disk_element,
    disk_target,
    hostdev_address,
    hostdev_element,
    nic_element,
    nic_mac,
)
from cna_agent.virt.domxml import build_domain_xml, parse_domain_xml
from cna_agent.virt.snapshots import SnapshotInfo

_STATES = {
    libvirt.VIR_DOMAIN_NOSTATE: DomainState.NOSTATE,
    libvirt.VIR_DOMAIN_RUNNING: DomainState.RUNNING,
    libvirt.VIR_DOMAIN_BLOCKED: DomainState.BLOCKED,
    libvirt.VIR_DOMAIN_PAUSED: DomainState.PAUSED,
    libvirt.VIR_DOMAIN_SHUTDOWN: DomainState.SHUTDOWN,
    libvirt.VIR_DOMAIN_SHUTOFF: DomainState.SHUTOFF,
    libvirt.VIR_DOMAIN_CRASHED: DomainState.CRASHED,
    libvirt.VIR_DOMAIN_PMSUSPENDED: DomainState.PMSUSPENDED,
}
# NVRAM is added only for domains that have one: drivers without NVRAM refuse the flag.
_UNDEFINE_FLAGS = (
    libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA | libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE
)


def domain_state(code: int) -> DomainState:
    """The DomainState of a libvirt state number."""
    return _STATES.get(code, DomainState.NOSTATE)


class Domains:
    """The domain half of the libvirt wall."""

    def __init__(self, hv: Hypervisor, *, poll_s: float = 0.2) -> None:
        self.hv = hv
        self.poll_s = poll_s

    # --- definition -----------------------------------------------------------------

    def define(
        self,
        spec: DomainSpec,
        *,
        domain_type: str,
        resolve_disk: Callable[[DiskSpec], str],
        host_mhz: int,
        seed_path: str | None = None,
    ) -> DomainReport:
        """Define the domain of a spec; the same uuid again updates its persistent config."""
        xml = build_domain_xml(
            spec,
            domain_type=domain_type,
            resolve_disk=resolve_disk,
            host_mhz=host_mhz,
            seed_path=seed_path,
        )
        with translate():
            self._claim_name(spec)
            self.hv.conn.defineXML(xml)
        return self.get(spec.uuid)

    def _claim_name(self, spec: DomainSpec) -> None:
        """Refuse a name held by another uuid; rename our own (stopped) domain."""
        holder = self._lookup(self.hv.conn.lookupByName, spec.name)
        if holder is not None and str(holder.UUIDString()) != str(spec.uuid):
            raise AlreadyExists(
                f"domain name {spec.name} is taken by uuid {holder.UUIDString()}",
                code="domain_exists",
                details={"name": spec.name, "uuid": str(holder.UUIDString())},
            )
        own = self._lookup(self.hv.conn.lookupByUUIDString, str(spec.uuid))
        if own is not None and str(own.name()) != spec.name:
            if own.isActive():
                raise StateConflict(f"cannot rename running domain {own.name()}")
            own.rename(spec.name, 0)

    def get(self, uuid: UUID) -> DomainReport:
        """The domain as it is now (live XML when running)."""
        dom = self._dom(uuid)
        with translate():
            return self._report(dom)

    def statuses(self) -> list[DomainStatus]:
        """Uuid, name and state of every domain of the node (for heartbeats)."""
        with translate():
            found = self.hv.conn.getAllDomainStats(libvirt.VIR_DOMAIN_STATS_STATE, 0)
            return [
                DomainStatus(
                    uuid=str(dom.UUIDString()),
                    name=str(dom.name()),
                    state=domain_state(int(stats["state.state"])),
                )
                for dom, stats in found
            ]

    def undefine(self, uuid: UUID) -> list[DiskSpec]:
        """Remove a stopped domain with its snapshot metadata, managed save and NVRAM.

        Returns the disks (not CD-ROMs: shared media) whose volumes the caller may
        delete. An unknown uuid is already undefined: nothing to return.
        """
        with translate():
            dom = self._lookup(self.hv.conn.lookupByUUIDString, str(uuid))
            if dom is None:
                return []
            if dom.isActive():
                raise StateConflict(f"domain {uuid} is running; stop it before deleting it")
            xml = str(dom.XMLDesc(0))
            report = parse_domain_xml(xml, DomainState.SHUTOFF, persistent=True)
            dom.undefineFlags(_UNDEFINE_FLAGS | _nvram_flag(xml))
        return [d for d in report.disks if d.kind == "disk"]

    # --- lifecycle ------------------------------------------------------------------

    def start(self, uuid: UUID) -> None:
        """Power on; a running or paused domain is left as it is."""
        dom = self._dom(uuid)
        with translate():
            if not dom.isActive():
                dom.create()

    def shutdown(self, uuid: UUID, *, timeout_s: float, force: bool = False) -> None:
        """ACPI power button, then wait; on timeout destroy if ``force`` else OperationTimeout."""
        dom = self._dom(uuid)
        with translate():
            if not dom.isActive():
                return
            # Flags 0: the driver default is ACPI without a guest agent (the test
            # driver refuses an explicit ACPI flag).
            dom.shutdown()
            if self._wait_off(dom, timeout_s):
                return
            if not force:
                raise OperationTimeout(
                    f"domain {uuid} did not shut down within {timeout_s:g} s",
                    details={"timeout_s": timeout_s},
                )
            self._destroy(dom)

    def destroy(self, uuid: UUID) -> None:
        """Power off at once; a stopped domain is left as it is."""
        dom = self._dom(uuid)
        with translate():
            self._destroy(dom)

    def reboot(self, uuid: UUID) -> None:
        """Ask the guest to reboot through ACPI."""
        dom = self._running(uuid, "reboot")
        with translate():
            dom.reboot(libvirt.VIR_DOMAIN_REBOOT_ACPI_POWER_BTN)

    def reset(self, uuid: UUID) -> None:
        """Press the reset button (no guest cooperation)."""
        dom = self._running(uuid, "reset")
        with translate():
            dom.reset(0)

    def suspend(self, uuid: UUID) -> None:
        """Pause the vCPUs; a paused domain is left as it is."""
        dom = self._running(uuid, "pause")
        with translate():
            if self._state(dom) != DomainState.PAUSED:
                dom.suspend()

    def resume(self, uuid: UUID) -> None:
        """Continue a paused domain; a running one is left as it is."""
        dom = self._running(uuid, "resume")
        with translate():
            if self._state(dom) == DomainState.PAUSED:
                dom.resume()

    # --- resources and devices ------------------------------------------------------

    def set_vcpus(self, uuid: UUID, vcpus: int) -> None:
        """Hot-add vCPUs when running (config when stopped); above the maximum is InvalidSpec."""
        dom = self._dom(uuid)
        with translate():
            hotplug.set_vcpus(dom, vcpus)

    def set_memory(self, uuid: UUID, memory_mib: int) -> None:
        """Balloon target when running (config when stopped); above the maximum is InvalidSpec."""
        dom = self._dom(uuid)
        with translate():
            hotplug.set_memory(dom, memory_mib)

    def attach_disk(self, uuid: UUID, disk: DiskSpec, path: str | None) -> None:
        """Attach a disk backed by ``path`` (None: an empty CD-ROM); a device name already
        present is left as it is."""
        dom = self._dom(uuid)
        find = hotplug.find_one("disk", disk_target, disk.device)
        with translate():
            hotplug.attach(dom, disk_element(disk, path), find)
            if disk.pool and disk.volume:
                hotplug.record_volume(dom, disk.device, disk.pool, disk.volume)

    def change_media(
        self,
        uuid: UUID,
        device: str,
        path: str | None,
        *,
        volume: tuple[str, str] | None = None,
        fmt: str = "raw",
    ) -> None:
        """Insert the image at ``path`` (pool and volume ``volume``) into a CD-ROM, or eject
        it (None); live and persistent. Not a CD-ROM: StateConflict ``not_a_cdrom``."""
        dom = self._dom(uuid)
        with translate():
            hotplug.change_media(dom, device, path, fmt)
            if path is not None and volume is not None:
                hotplug.record_volume(dom, device, *volume)
            else:
                hotplug.forget_volume(dom, device)

    def detach_disk(self, uuid: UUID, device: str) -> None:
        """Detach the disk with target ``device`` (e.g. vdb); a missing one is already gone."""
        dom = self._dom(uuid)
        with translate():
            hotplug.detach(dom, hotplug.find_one("disk", disk_target, device))

    def attach_nic(self, uuid: UUID, nic: NicSpec) -> None:
        """Attach a NIC; a MAC already present is left as it is."""
        dom = self._dom(uuid)
        with translate():
            hotplug.attach(dom, nic_element(nic), hotplug.find_one("interface", nic_mac, nic.mac))
            if nic.ips:
                hotplug.record_port(dom, nic.mac, nic.network, nic.portgroup or "")

    def update_nic(self, uuid: UUID, nic: NicSpec) -> None:
        """Change a NIC's bound addresses in place (live and persistent).

        Only between two address lists that are both non-empty: a NIC gains or loses its
        filter (and with it its plumbing) by being defined again while the domain is off.
        """
        dom = self._dom(uuid)
        with translate():
            find = hotplug.find_one("interface", nic_mac, nic.mac)
            hotplug.update(dom, nic_element(nic), find)

    def detach_nic(self, uuid: UUID, mac: str) -> None:
        """Detach the NIC with ``mac``; a missing one is already gone."""
        dom = self._dom(uuid)
        with translate():
            hotplug.detach(dom, hotplug.find_one("interface", nic_mac, mac.lower()))

    def attach_hostdev(self, uuid: UUID, address: PciAddress) -> None:
        """Pass a host PCI device through; one already attached is left as it is."""
        dom = self._dom(uuid)
        find = hotplug.find_one("hostdev", hostdev_address, address)
        with translate():
            hotplug.attach(dom, hostdev_element(address), find)

    def detach_hostdev(self, uuid: UUID, address: PciAddress) -> None:
        """Give a passed-through PCI device back; a missing one is already gone."""
        dom = self._dom(uuid)
        with translate():
            hotplug.detach(dom, hotplug.find_one("hostdev", hostdev_address, address))

    # --- snapshots and console ------------------------------------------------------

    def snapshot_create(self, uuid: UUID, spec: SnapshotSpec) -> SnapshotInfo:
        """Take an internal snapshot; an existing name is returned as it is."""
        dom = self._dom(uuid)
        with translate():
            return snapshots.create(dom, spec)

    def snapshot_revert(self, uuid: UUID, name: str) -> None:
        """Return to a snapshot; an unknown name is NotFound (snapshot_not_found)."""
        dom = self._dom(uuid)
        with translate():
            snapshots.revert(dom, name)

    def snapshot_delete(self, uuid: UUID, name: str) -> None:
        """Delete a snapshot; an unknown name is already deleted."""
        dom = self._dom(uuid)
        with translate():
            snapshots.delete(dom, name)

    def snapshots(self, uuid: UUID) -> list[SnapshotInfo]:
        """The domain's snapshots, oldest first."""
        dom = self._dom(uuid)
        with translate():
            return snapshots.list_all(dom)

    def console(self, uuid: UUID) -> ConsoleInfo:
        """The consoles of a running domain: its VNC socket and whether it has ttyS0."""
        dom = self._dom(uuid)
        with translate():
            return consoles.console(dom)

    def serial_path(self, uuid: UUID) -> str:
        """The pseudo-terminal of a running domain's ttyS0."""
        dom = self._dom(uuid)
        with translate():
            return consoles.serial_path(dom)

    # --- helpers --------------------------------------------------------------------

    def _dom(self, uuid: UUID) -> libvirt.virDomain:
        with translate():
            return self.hv.conn.lookupByUUIDString(str(uuid))

    def _running(self, uuid: UUID, action: str) -> libvirt.virDomain:
        dom = self._dom(uuid)
        with translate():
            active = bool(dom.isActive())
        if not active:
            raise StateConflict(f"cannot {action} domain {uuid}: it is not running")
        return dom

    def _report(self, dom: libvirt.virDomain) -> DomainReport:
        return parse_domain_xml(str(dom.XMLDesc(0)), self._state(dom), bool(dom.isPersistent()))

    @staticmethod
    def _state(dom: libvirt.virDomain) -> DomainState:
        return domain_state(int(dom.state(0)[0]))

    @staticmethod
    def _lookup(lookup: Callable[[str], libvirt.virDomain], key: str) -> libvirt.virDomain | None:
        try:
            return lookup(key)
        except libvirt.libvirtError as exc:
            if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
                return None
            raise

    @staticmethod
    def _destroy(dom: libvirt.virDomain) -> None:
        if dom.isActive():
            dom.destroy()

    def _wait_off(self, dom: libvirt.virDomain, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while dom.isActive():
            if time.monotonic() >= deadline:
                return False
            time.sleep(self.poll_s)
        return True


def _nvram_flag(xml: str) -> int:
    has_nvram = ET.fromstring(xml).find("os/nvram") is not None
    return libvirt.VIR_DOMAIN_UNDEFINE_NVRAM if has_nvram else 0
