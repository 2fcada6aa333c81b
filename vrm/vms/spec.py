"""Translating VRM's records of a VM into what its node needs (``cna_agent.protocol``)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from typing import TypeVar

from sqlalchemy.orm import Session

from cna_agent.protocol import (
    BootDevice,
    ConsoleSpec,
    DiskSpec,
    DomainSpec,
    NetworkSpec,
    NicSpec,
    PortGroupSpec,
)
from vrm.clusters.schemas import HOST_MODEL
from vrm.errors import Conflict, NotFound
from vrm.models import (
    Cluster,
    Dvs,
    HostDatastore,
    Image,
    PortGroup,
    Vm,
    VmCdrom,
    VmDisk,
    VmNic,
    Volume,
)
from vrm.network.cloudinit import seed_spec
from vrm.network.repository import PortGroupRepository

T = TypeVar("T")


def volume_name(vm: Vm, device: str) -> str:
    """The node-side name of a VM's new volume (libvirt-safe and unique)."""
    return f"vm-{vm.uuid.hex[:12]}-{device}"


def domain_name(vm: Vm) -> str:
    """The domain's name on the node: the VM's name made libvirt-safe, plus a uuid part."""
    readable = re.sub(r"[^A-Za-z0-9_.-]+", "-", vm.name).strip("-.")[:40] or "vm"
    return f"{readable}-{vm.uuid.hex[:8]}"


def portgroup_name(group: PortGroup) -> str:
    """The node-side name of a port group (VRM names may hold spaces; it keeps its name
    when its VLAN changes)."""
    return f"pg-{group.id.hex[:12]}"


def pool_of(session: Session, host_id: uuid.UUID, volume: Volume | Image) -> str:
    """The pool name under which ``host_id`` reaches the datastore of a volume or image."""
    link = session.get(HostDatastore, (host_id, volume.datastore_id))
    if link is None:
        kind = "image" if isinstance(volume, Image) else "volume"
        raise Conflict(
            f"host {host_id} does not reach the datastore of {kind} {volume.name}",
            code="datastore_unreachable",
        )
    return link.pool_name


def network_spec(session: Session, dvs: Dvs) -> NetworkSpec:
    """A DVS with all its port groups, as every host of its site realizes it."""
    groups = PortGroupRepository(session).of_dvs(dvs.id)
    return NetworkSpec(
        name=dvs.bridge,
        bridge=dvs.bridge,
        uplink=dvs.uplink,
        mtu=dvs.mtu,
        port_groups=[
            PortGroupSpec(name=portgroup_name(g), vlan_id=g.vlan_id, trunk=list(g.trunk_vlans))
            for g in groups
        ],
    )


def disk_spec(
    session: Session, host_id: uuid.UUID, disk: VmDisk, volume_id: uuid.UUID | None = None
) -> DiskSpec:
    """A VM disk as the node sees it (on ``volume_id`` instead of its own, when given)."""
    volume = _get(session, Volume, volume_id or disk.volume_id, "volume")
    return DiskSpec(
        device=disk.device,
        bus=disk.bus.value,
        pool=pool_of(session, host_id, volume),
        volume=volume.name,
        format=volume.format.value,
        boot_order=disk.boot_index,
    )


def cdrom_spec(session: Session, host_id: uuid.UUID, drive: VmCdrom) -> DiskSpec:
    """A CD-ROM drive as the node sees it: an IDE drive with an ISO image, or empty."""
    if drive.image_id is None:
        return DiskSpec(device=drive.device, bus="ide", kind="cdrom", format="raw")
    image = _get(session, Image, drive.image_id, "image")
    return DiskSpec(
        device=drive.device,
        bus="ide",
        kind="cdrom",
        pool=pool_of(session, host_id, image),
        volume=image.volume_name,
        format="raw",
    )


def with_boot_order(vm: Vm, disks: list[DiskSpec], nics: list[NicSpec]) -> None:
    """Give the first device of each kind in ``vm.boot_order`` its place (libvirt's
    per-device ``<boot order>``, which also works when the firmware has several disks)."""
    first_disk = next((d for d in disks if d.kind == "disk" and d.boot_order), None)
    first_disk = first_disk or next((d for d in disks if d.kind == "disk"), None)
    candidates: dict[str, DiskSpec | NicSpec | None] = {
        BootDevice.HD.value: first_disk,
        BootDevice.CDROM.value: next((d for d in disks if d.kind == "cdrom"), None),
        BootDevice.NETWORK.value: nics[0] if nics else None,
    }
    devices: list[DiskSpec | NicSpec] = [*disks, *nics]
    for device in devices:
        device.boot_order = None
    order = 0
    for kind in vm.boot_order:
        chosen = candidates.get(str(kind))
        if chosen is not None and chosen.boot_order is None:
            order += 1
            chosen.boot_order = order


def nic_spec(session: Session, nic: VmNic) -> NicSpec:
    """A VM NIC as the node sees it."""
    group = _get(session, PortGroup, nic.port_group_id, "port group")
    dvs = _get(session, Dvs, group.dvs_id, "dvs")
    return NicSpec(
        mac=nic.mac,
        network=dvs.bridge,
        portgroup=portgroup_name(group),
        model=nic.model.value,
        mtu=dvs.mtu,
        ips=nic.ips,
    )


def domain_spec(
    session: Session,
    vm: Vm,
    *,
    host_id: uuid.UUID | None = None,
    volumes: Mapping[uuid.UUID, uuid.UUID] | None = None,
) -> DomainSpec:
    """The full definition of a placed VM (disks, CD-ROMs and NICs must be loaded), as its
    host sees it, or as ``host_id`` would (a migration's target: its own pool names),
    with the disks on other volumes where ``volumes`` says (a volume id -> its copy)."""
    host_id = host_id or vm.host_id
    if host_id is None:
        raise Conflict(f"VM {vm.name} is not placed on a host", code="vm_not_placed")
    moved = volumes or {}
    disks = [
        disk_spec(session, host_id, d, moved.get(d.volume_id))
        for d in sorted(vm.disks, key=_device)
    ]
    disks += [cdrom_spec(session, host_id, c) for c in sorted(vm.cdroms, key=_device)]
    nics = [nic_spec(session, n) for n in sorted(vm.nics, key=lambda n: n.slot)]
    with_boot_order(vm, disks, nics)
    return DomainSpec(
        uuid=vm.uuid,
        name=domain_name(vm),
        vcpus=vm.vcpus,
        max_vcpus=vm.max_vcpus,
        memory_mib=vm.memory_mib,
        max_memory_mib=vm.max_memory_mib,
        cpu_shares=vm.cpu_shares,
        cpu_limit_mhz=vm.cpu_limit_mhz,
        cpu_reservation_mhz=vm.cpu_reservation_mhz,
        disks=disks,
        nics=nics,
        boot=[BootDevice(b) for b in vm.boot_order],
        console=ConsoleSpec(),
        seed=seed_spec(session, vm),
        cpu_model=_cpu_model(session, vm),
    )


def _cpu_model(session: Session, vm: Vm) -> str | None:
    """The cluster's named CPU model (its VMs run it on every host), or None."""
    cluster = _get(session, Cluster, vm.cluster_id, "cluster")
    return None if cluster.cpu_mode == HOST_MODEL else cluster.cpu_mode


def _device(disk: VmDisk | VmCdrom) -> str:
    return disk.device


def _get(session: Session, model: type[T], ident: uuid.UUID, kind: str) -> T:
    obj = session.get(model, ident)
    if obj is None:
        raise NotFound.of(kind, ident)
    return obj
