"""Operations that add or remove rows: disks, NICs, clones and templates."""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from vrm.audit.service import record
from vrm.auth.principal import Principal
from vrm.crud import ensure_unique, get_ref_or_422
from vrm.errors import Conflict
from vrm.hosts.repository import HostRepository
from vrm.models import Host, Task, Vm, VmDisk, Volume
from vrm.models.enums import ObjectState, VmState
from vrm.network import allocator
from vrm.network.repository import PortGroupRepository
from vrm.scheduler.interface import PlacementRequest
from vrm.scheduler.service import default_datastore_id, select_host
from vrm.storage.repository import DatastoreRepository, VolumeRepository
from vrm.tasks.service import queue_task
from vrm.tasks.types import TaskType
from vrm.vms import build
from vrm.vms.repository import VmRepository
from vrm.vms.schemas import (
    AttachDiskBody,
    AttachNicBody,
    CloneBody,
    DetachDiskBody,
    DetachNicBody,
    NicCreate,
    SetIpsBody,
)
from vrm.vms.service import get_vm, operate, refusal
from vrm.vms.spec import volume_name
from vrm.vms.states import Operation


def attach_disk(
    session: Session, *, actor: Principal, vm_id: uuid.UUID, body: AttachDiskBody
) -> tuple[Vm, Task]:
    """Add a disk (a new volume or an unattached one) to a running or stopped VM."""
    vm = get_vm(session, vm_id=vm_id)
    host = _host_of(session, vm)
    device = build.next_device(body.bus, {d.device for d in vm.disks})
    existing = _free_volume(session, body.volume_id) if body.volume_id else None
    _, task = operate(
        session, actor=actor, vm_id=vm.id, op=Operation.ATTACH_DISK, params={"device": device}
    )
    if existing is None:
        _check_space(session, body.datastore_id, body.size_mib or 0, host)
    volume = existing or build.new_volume(
        session, vm, host, body.datastore_id, device, body.size_mib or 0
    )
    session.add(VmDisk(vm_id=vm.id, volume_id=volume.id, device=device, bus=body.bus))
    VmRepository(session).flush(conflict="the volume was attached meanwhile")
    return get_vm(session, vm_id=vm.id), task


def detach_disk(
    session: Session, *, actor: Principal, vm_id: uuid.UUID, body: DetachDiskBody
) -> tuple[Vm, Task]:
    """Remove a disk by device name, keeping or deleting its volume."""
    vm = get_vm(session, vm_id=vm_id)
    if body.device not in {d.device for d in vm.disks}:
        raise Conflict(f"VM {vm.name} has no disk {body.device}", code="disk_not_found")
    return operate(
        session, actor=actor, vm_id=vm.id, op=Operation.DETACH_DISK, params=body.model_dump()
    )


def attach_nic(
    session: Session, *, actor: Principal, vm_id: uuid.UUID, body: AttachNicBody, mac_prefix: str
) -> tuple[Vm, Task]:
    """Add a NIC on a port group (MAC assigned unless given, addresses from its pools)."""
    get_ref_or_422(PortGroupRepository(session), body.port_group_id, "port group", "port_group_id")
    vm = get_vm(session, vm_id=vm_id)
    repo = VmRepository(session)
    mac = (body.mac or build.new_mac(repo, mac_prefix)).lower()
    if repo.mac_taken(mac):
        raise Conflict(f"MAC {mac} is already in use", code="mac_in_use")
    _, task = operate(
        session, actor=actor, vm_id=vm.id, op=Operation.ATTACH_NIC, params={"mac": mac}
    )
    slot = max((n.slot for n in vm.nics), default=-1) + 1
    build.add_nic(
        session, vm, body.model_copy(update={"mac": mac}), slot=slot, mac_prefix=mac_prefix
    )
    return get_vm(session, vm_id=vm.id), task


def detach_nic(
    session: Session, *, actor: Principal, vm_id: uuid.UUID, body: DetachNicBody
) -> tuple[Vm, Task]:
    """Remove a NIC by MAC."""
    vm = get_vm(session, vm_id=vm_id)
    if body.mac.lower() not in {n.mac for n in vm.nics}:
        raise Conflict(f"VM {vm.name} has no NIC {body.mac}", code="nic_not_found")
    return operate(
        session, actor=actor, vm_id=vm.id, op=Operation.DETACH_NIC, params={"mac": body.mac.lower()}
    )


def set_ips(
    session: Session, *, actor: Principal, vm_id: uuid.UUID, body: SetIpsBody
) -> tuple[Vm, Task]:
    """Give a NIC new addresses now; its task moves the filter and the seed to them."""
    vm = get_vm(session, vm_id=vm_id)
    mac = body.mac.lower()
    nic = next((n for n in vm.nics if n.mac == mac), None)
    if nic is None:
        raise Conflict(f"VM {vm.name} has no NIC {mac}", code="nic_not_found")
    previous = nic.ips
    _, task = operate(
        session,
        actor=actor,
        vm_id=vm.id,
        op=Operation.SET_IPS,
        params={"mac": mac, "ips": list(body.ips), "previous_ips": previous},
    )
    allocator.release(session, [nic.id])
    session.flush()
    taken = [a.address for a in allocator.assign(session, nic, body.ips)]
    if vm.state == VmState.RUNNING and bool(previous) != bool(taken):
        raise Conflict(
            f"NIC {mac} would {'lose' if previous else 'gain'} its address filter while the "
            "VM runs; stop the VM first",
            code="vm_state_conflict",
            details={"state": vm.state.value},
        )
    session.expire(nic, ["allocations"])
    return get_vm(session, vm_id=vm.id), task


def convert_to_template(session: Session, *, actor: Principal, vm_id: uuid.UUID) -> tuple[Vm, Task]:
    """Turn a stopped VM into a template (it can then only be cloned or deleted)."""
    return operate(session, actor=actor, vm_id=vm_id, op=Operation.CONVERT_TO_TEMPLATE)


def clone(
    session: Session, *, actor: Principal, vm_id: uuid.UUID, body: CloneBody, mac_prefix: str
) -> tuple[Vm, Task]:
    """A new VM from a stopped VM or a template, on the same host and datastores."""
    source = get_vm(session, vm_id=vm_id)
    repo = VmRepository(session)
    ensure_unique(
        repo,
        f"a VM named {body.name!r} already exists in this cluster",
        cluster_id=source.cluster_id,
        name=body.name,
    )
    previous = source.state
    if not repo.claim(source.id, Operation.CLONE):
        session.refresh(source)
        raise refusal(source, Operation.CLONE)
    host = select_host(session, request=_clone_request(session, source, body)).host
    copy = _copy_rows(session, source, host, body, mac_prefix=mac_prefix)
    params = {
        "source_vm_id": str(source.id),
        "mode": body.mode,
        "power_on": body.power_on,
        "source_state": previous.value,
    }
    task = queue_task(
        session,
        type=TaskType.VM_CLONE,
        target_type="vm",
        target_id=copy.id,
        user_id=actor.user_id,
        params=params,
    )
    record(
        session,
        actor=actor,
        action="vm.clone",
        target_type="vm",
        target_id=copy.id,
        details={"task_id": str(task.id), **params},
    )
    return get_vm(session, vm_id=copy.id), task


def _clone_request(session: Session, source: Vm, body: CloneBody) -> PlacementRequest:
    disk_mib: dict[uuid.UUID | None, int] = {}
    for disk in source.disks:
        volume = session.get(Volume, disk.volume_id)
        if volume is not None:
            need = volume.capacity_mib if body.mode == "full" else 0
            disk_mib[volume.datastore_id] = disk_mib.get(volume.datastore_id, 0) + need
    return PlacementRequest(
        cluster_id=source.cluster_id,
        vcpus=source.vcpus,
        memory_mib=source.memory_mib,
        disk_mib=disk_mib,
        port_group_ids=tuple(n.port_group_id for n in source.nics),
        host_id=source.host_id,
    )


def _copy_rows(session: Session, source: Vm, host: Host, body: CloneBody, *, mac_prefix: str) -> Vm:
    copy = Vm(
        name=body.name,
        description=source.description,
        cluster_id=source.cluster_id,
        host_id=host.id,
        vcpus=source.vcpus,
        max_vcpus=source.max_vcpus,
        memory_mib=source.memory_mib,
        max_memory_mib=source.max_memory_mib,
        cpu_shares=source.cpu_shares,
        cpu_reservation_mhz=source.cpu_reservation_mhz,
        cpu_limit_mhz=source.cpu_limit_mhz,
        ha_enabled=source.ha_enabled,
        boot_order=list(source.boot_order),
        state=VmState.CREATING,
        task_state=Operation.CREATE.value,
        source_vm_id=source.id,
    )
    repo = VmRepository(session)
    repo.add(copy, conflict=f"a VM named {body.name!r} already exists in this cluster")
    for disk in source.disks:
        original = session.get(Volume, disk.volume_id)
        assert original is not None
        volume = Volume(
            datastore_id=original.datastore_id,
            name=volume_name(copy, disk.device),
            capacity_mib=original.capacity_mib,
            format=original.format,
            backing_volume_id=original.id if body.mode == "linked" else None,
            state=ObjectState.CREATING,
        )
        session.add(volume)
        session.flush()
        session.add(
            VmDisk(
                vm_id=copy.id,
                volume_id=volume.id,
                device=disk.device,
                bus=disk.bus,
                boot_index=disk.boot_index,
            )
        )
    for nic in source.nics:
        wanted = NicCreate(port_group_id=nic.port_group_id, model=nic.model)
        build.add_nic(session, copy, wanted, slot=nic.slot, mac_prefix=mac_prefix)
    return copy


def _host_of(session: Session, vm: Vm) -> Host:
    host = HostRepository(session).get(vm.host_id) if vm.host_id else None
    if host is None:
        raise Conflict(f"VM {vm.name} is not placed on a host", code="vm_not_placed")
    return host


def _free_volume(session: Session, volume_id: uuid.UUID) -> Volume:
    volume = get_ref_or_422(VolumeRepository(session), volume_id, "volume", "volume_id")
    if VmRepository(session).disk_of_volume(volume.id) is not None:
        raise Conflict(f"volume {volume.name} is attached to another VM", code="volume_in_use")
    return volume


def _check_space(
    session: Session, datastore_id: uuid.UUID | None, size_mib: int, host: Host
) -> None:
    chosen = datastore_id or default_datastore_id(session, host_id=host.id)
    store = DatastoreRepository(session).get(chosen) if chosen else None
    if store is not None and store.capacity_mib - store.allocated_mib < size_mib:
        raise Conflict(
            f"datastore {store.name} has {store.capacity_mib - store.allocated_mib} MiB free, "
            f"the disk needs {size_mib} MiB",
            code="datastore_full",
        )
