"""Datastores as libvirt storage pools, and their volumes (qcow2 or raw, linked clones).

Every method is idempotent: ensuring what exists returns it, deleting what is gone does
nothing. Sizes in reports are MiB, rounded down.
"""

from __future__ import annotations

import contextlib
import logging
import posixpath
import re
import threading
import xml.etree.ElementTree as ET
from typing import Any

from cna_agent.errors import AgentError, AlreadyExists, InvalidSpec, NotFound, StateConflict
from cna_agent.protocol import PoolReport, PoolSpec, PoolType, VolumeReport, VolumeSpec
from cna_agent.virt.connection import Hypervisor, translate

log = logging.getLogger(__name__)

MIB = 1024 * 1024
# "server:/export" with a host name or IPv4 address; IPv6 sources are not supported yet.
_NETFS_SOURCE = re.compile(r"^(?P<host>[A-Za-z0-9][A-Za-z0-9.-]*):(?P<dir>/[^\s\x00]*)$")


# --- XML ------------------------------------------------------------------------------


def netfs_source(source: str | None) -> tuple[str, str]:
    """Split an NFS source "server:/export" into host and directory, or refuse it."""
    match = _NETFS_SOURCE.match(source or "")
    if match is None:
        raise InvalidSpec(
            f"netfs source must look like 'server:/export', not {source!r}",
            code="invalid_pool_source",
        )
    return match["host"], posixpath.normpath(match["dir"])


def pool_xml(spec: PoolSpec) -> str:
    """The libvirt XML of a datastore spec (validated)."""
    if spec.type is PoolType.DIR and spec.source is not None:
        raise InvalidSpec("a dir pool takes no source", code="invalid_pool_source")
    root = ET.Element("pool", type=spec.type.value)
    ET.SubElement(root, "name").text = spec.name
    if spec.type is PoolType.NETFS:
        host, directory = netfs_source(spec.source)
        source = ET.SubElement(root, "source")
        ET.SubElement(source, "host", name=host)
        ET.SubElement(source, "dir", path=directory)
        ET.SubElement(source, "format", type="nfs")
    target = ET.SubElement(root, "target")
    ET.SubElement(target, "path").text = posixpath.normpath(spec.path)
    return ET.tostring(root, encoding="unicode")


def volume_xml(name: str, *, capacity: int, fmt: str, backing: VolumeReport | None = None) -> str:
    """The libvirt XML of a sparse volume (capacity in bytes), over a backing volume if given."""
    root = ET.Element("volume")
    ET.SubElement(root, "name").text = name
    ET.SubElement(root, "capacity", unit="bytes").text = str(capacity)
    ET.SubElement(root, "allocation", unit="bytes").text = "0"
    ET.SubElement(ET.SubElement(root, "target"), "format", type=fmt)
    if backing is not None:
        store = ET.SubElement(root, "backingStore")
        ET.SubElement(store, "path").text = backing.path
        ET.SubElement(store, "format", type=backing.format)
    return ET.tostring(root, encoding="unicode")


def _pool_identity(xml: str) -> tuple[str, str, str | None]:
    """What makes a pool the same datastore: type, target path and source."""
    root = ET.fromstring(xml)
    host = root.find("source/host")
    directory = root.find("source/dir")
    source = None
    if host is not None and directory is not None:
        source = f"{host.get('name', '')}:{directory.get('path', '')}"
    return root.get("type", ""), root.findtext("target/path", ""), source


def _pool_report(pool: Any) -> PoolReport:
    root = ET.fromstring(str(pool.XMLDesc(0)))
    _state, capacity, allocation, available = (int(n) for n in pool.info())
    return PoolReport(
        name=str(pool.name()),
        type=root.get("type", ""),
        path=root.findtext("target/path", ""),
        active=bool(pool.isActive()),
        capacity_mib=capacity // MIB,
        allocation_mib=allocation // MIB,
        available_mib=available // MIB,
    )


def _volume_report(pool: str, vol: Any) -> VolumeReport:
    root = ET.fromstring(str(vol.XMLDesc(0)))
    fmt = root.find("target/format")
    _type, capacity, allocation = (int(n) for n in vol.info())
    return VolumeReport(
        name=str(vol.name()),
        pool=pool,
        path=str(vol.path()),
        format=fmt.get("type", "") if fmt is not None else "",
        capacity_mib=capacity // MIB,
        allocation_mib=allocation // MIB,
        backing_path=root.findtext("backingStore/path"),
    )


# --- the service ----------------------------------------------------------------------


class Storage:
    """Storage pools and volumes of one node."""

    def __init__(self, hv: Hypervisor) -> None:
        self.hv = hv
        # Pool definitions are check-then-act; one at a time keeps ensure/delete atomic.
        self._lock = threading.Lock()

    # pools

    def ensure_pool(self, spec: PoolSpec) -> PoolReport:
        """Define, build, start and autostart a pool; an identical existing pool is returned."""
        xml = pool_xml(spec)
        with self._lock, translate():
            pool = self._find_pool(spec.name)
            if pool is None:
                self._refuse_taken_path(spec)
                pool = self.hv.conn.storagePoolDefineXML(xml, 0)
                log.info("defined storage pool %s at %s", spec.name, spec.path)
            elif _pool_identity(str(pool.XMLDesc(0))) != _pool_identity(xml):
                raise AlreadyExists(
                    f"pool {spec.name} exists with another type, path or source",
                    code="pool_exists",
                    details={"pool": spec.name},
                )
            self._activate(pool)
            return _pool_report(pool)

    def pools(self) -> list[PoolReport]:
        """Every storage pool of the node."""
        with translate():
            return [_pool_report(p) for p in self.hv.conn.listAllStoragePools(0)]

    def pool(self, name: str) -> PoolReport:
        """One pool (NotFound ``pool_not_found`` when unknown)."""
        with translate():
            return _pool_report(self.hv.conn.storagePoolLookupByName(name))

    def refresh(self, name: str) -> PoolReport:
        """Rescan a pool's volumes and sizes (files changed outside libvirt)."""
        with translate():
            pool = self.hv.conn.storagePoolLookupByName(name)
            pool.refresh(0)
            return _pool_report(pool)

    def delete_pool(self, name: str) -> None:
        """Stop, remove the empty directory of, and undefine a pool; unknown is fine."""
        with self._lock, translate():
            pool = self._find_pool(name)
            if pool is None:
                return
            # An inactive pool cannot be inspected: it is only undefined, its files stay.
            if pool.isActive():
                self._stop_empty(pool)
            pool.undefine()
            log.info("deleted storage pool %s", name)

    # volumes

    def volumes(self, pool: str) -> list[VolumeReport]:
        """Every volume of a pool."""
        with translate():
            vols = self.hv.conn.storagePoolLookupByName(pool).listAllVolumes(0)
            return [_volume_report(pool, v) for v in vols]

    def volume(self, pool: str, name: str) -> VolumeReport:
        """One volume (NotFound ``volume_not_found`` when unknown)."""
        with translate():
            return _volume_report(pool, _lookup_volume(self._pool(pool), name))

    def volume_path(self, pool: str, name: str) -> str:
        """The file of a volume, as a domain's disk source uses it."""
        with translate():
            return str(_lookup_volume(self._pool(pool), name).path())

    def create_volume(self, pool: str, spec: VolumeSpec) -> VolumeReport:
        """Create a sparse volume, a linked clone when ``backing_volume`` is set."""
        with translate():
            handle = self._pool(pool)
            backing = self._backing(pool, spec)
            existing = _find_volume(handle, spec.name)
            if existing is not None:
                return _same_volume(
                    _volume_report(pool, existing),
                    fmt=spec.format,
                    capacity_mib=spec.capacity_mib,
                    backing_path=backing.path if backing else None,
                )
            xml = volume_xml(
                spec.name, capacity=spec.capacity_mib * MIB, fmt=spec.format, backing=backing
            )
            vol = handle.createXML(xml, 0)
            log.info("created volume %s/%s", pool, spec.name)
            return _volume_report(pool, vol)

    def clone_volume(
        self,
        pool: str,
        source: str,
        new_name: str,
        *,
        target_pool: str | None = None,
        fmt: str | None = None,
        capacity_mib: int | None = None,
    ) -> VolumeReport:
        """Copy a volume in full (a linked clone's chain is flattened into the copy), into
        ``target_pool`` (default: the same), converted to ``fmt`` and grown to
        ``capacity_mib`` when given; the same copy asked again is returned."""
        into = target_pool or pool
        with translate():
            src = _lookup_volume(self._pool(pool), source)
            report = _volume_report(pool, src)
            handle = self._pool(into)
            capacity = int(src.info()[1])
            wanted = capacity if capacity_mib is None else capacity_mib * MIB
            _refuse_shrink(f"{pool}/{source}", capacity, wanted)
            fmt = fmt or report.format
            existing = _find_volume(handle, new_name)
            if existing is not None:
                return _same_volume(
                    _volume_report(into, existing),
                    fmt=fmt,
                    capacity_mib=wanted // MIB,
                    backing_path=None,
                )
            # createXMLFrom copies across the pools of one connection (qemu-img convert).
            vol = handle.createXMLFrom(volume_xml(new_name, capacity=capacity, fmt=fmt), src, 0)
            if wanted > capacity:
                _grow_or_delete(vol, wanted)
            log.info("cloned volume %s/%s to %s/%s", pool, source, into, new_name)
            return _volume_report(into, vol)

    def resize_volume(self, pool: str, name: str, capacity_mib: int) -> VolumeReport:
        """Grow a volume to ``capacity_mib``; the same size is a no-op, shrinking is refused."""
        with translate():
            vol = _lookup_volume(self._pool(pool), name)
            current = int(vol.info()[1])
            wanted = capacity_mib * MIB
            _refuse_shrink(f"{pool}/{name}", current, wanted)
            if wanted > current:
                vol.resize(wanted, 0)
            return _volume_report(pool, vol)

    def delete_volume(self, pool: str, name: str) -> None:
        """Delete a volume unless it backs a linked clone; unknown is fine."""
        with translate():
            vol = _find_volume(self._pool(pool), name)
            if vol is None:
                return
            self._refuse_backing(pool, name, str(vol.path()))
            vol.delete(0)
            log.info("deleted volume %s/%s", pool, name)

    def check_deletable(self, pool: str, name: str) -> None:
        """Raise ``volume_in_use`` if deleting the volume would break linked clones."""
        with translate():
            vol = _find_volume(self._pool(pool), name)
            if vol is not None:
                self._refuse_backing(pool, name, str(vol.path()))

    def _refuse_backing(self, pool: str, name: str, path: str) -> None:
        clones = [v.name for v in self.volumes(pool) if v.backing_path == path]
        if clones:
            raise StateConflict(
                f"volume {pool}/{name} backs linked clones",
                code="volume_in_use",
                details={"clones": clones},
            )

    # helpers

    def _pool(self, name: str) -> Any:
        return self.hv.conn.storagePoolLookupByName(name)

    def _find_pool(self, name: str) -> Any | None:
        try:
            with translate():
                return self._pool(name)
        except NotFound:
            return None

    def _refuse_taken_path(self, spec: PoolSpec) -> None:
        # libvirt refuses it too, but as a generic (retryable) "operation failed".
        path = posixpath.normpath(spec.path)
        owners = [p.name for p in self.pools() if p.path == path]
        if owners:
            raise AlreadyExists(
                f"{path} is already the datastore {owners[0]}",
                code="pool_path_in_use",
                details={"pool": owners[0]},
            )

    @staticmethod
    def _activate(pool: Any) -> None:
        if not pool.isActive():
            # build is mkdir for dir pools and the mount point for netfs ones.
            pool.build(0)
            pool.create(0)
        if not pool.autostart():
            pool.setAutostart(1)

    @staticmethod
    def _stop_empty(pool: Any) -> None:
        pool.refresh(0)
        count = int(pool.numOfVolumes())
        if count:
            raise StateConflict(
                f"pool {pool.name()} still holds {count} volume(s)",
                code="pool_not_empty",
                details={"volumes": count},
            )
        pool.destroy()
        try:
            with translate():
                pool.delete(0)
        except AgentError as exc:
            # Files libvirt does not count as volumes stay; the datastore goes anyway.
            log.warning("kept the directory of pool %s: %s", pool.name(), exc.message)

    def _backing(self, pool: str, spec: VolumeSpec) -> VolumeReport | None:
        if spec.backing_volume is None:
            return None
        if spec.format != "qcow2":
            raise InvalidSpec("a linked clone must be qcow2", code="invalid_volume_format")
        base = self.volume(pool, spec.backing_volume)
        if spec.capacity_mib < base.capacity_mib:
            raise InvalidSpec(
                f"a linked clone needs at least the {base.capacity_mib} MiB of its base",
                code="volume_too_small",
            )
        return base


def _refuse_shrink(volume: str, current: int, wanted: int) -> None:
    """Volumes only grow: a guest's file system would lose its end."""
    if wanted < current:
        raise InvalidSpec(
            f"volume {volume} cannot shrink from {current // MIB} to {wanted // MIB} MiB",
            code="volume_shrink",
        )


def _grow_or_delete(vol: Any, capacity: int) -> None:
    """Grow a new copy; a copy that cannot grow goes, so that asking again starts anew."""
    try:
        vol.resize(capacity, 0)
    except BaseException:
        with contextlib.suppress(Exception):
            vol.delete(0)
        raise


def _find_volume(pool: Any, name: str) -> Any | None:
    try:
        return _lookup_volume(pool, name)
    except NotFound:
        return None


def _lookup_volume(pool: Any, name: str) -> Any:
    """A pool's volume by name; a miss rescans the pool once, since on a datastore that
    several nodes share another node may have made the file (NotFound if still absent)."""
    try:
        with translate():
            return pool.storageVolLookupByName(name)
    except NotFound:
        pass
    with translate():
        pool.refresh(0)
        return pool.storageVolLookupByName(name)


def _same_volume(
    existing: VolumeReport, *, fmt: str, capacity_mib: int, backing_path: str | None
) -> VolumeReport:
    """The existing volume when it is what was asked for again, else AlreadyExists."""
    if (existing.format, existing.capacity_mib, existing.backing_path) != (
        fmt,
        capacity_mib,
        backing_path,
    ):
        raise AlreadyExists(
            f"volume {existing.pool}/{existing.name} exists with another format, size or base",
            code="volume_exists",
            details={"volume": existing.model_dump()},
        )
    return existing
