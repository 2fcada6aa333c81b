"""Turning a ``VmCreate`` into rows: checked references, a host, volumes, disks and NICs."""

from __future__ import annotations

import secrets
import string
import uuid
from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from cna_agent.protocol import SEED_DEVICE
from vrm.crud import get_ref_or_422
from vrm.errors import Conflict, ValidationFailed
from vrm.models import Host, Vm, VmDisk, VmNic, Volume
from vrm.models.enums import DiskBus, ObjectState
from vrm.network import allocator
from vrm.network.repository import PortGroupRepository
from vrm.scheduler.interface import PlacementRequest
from vrm.scheduler.service import Placement, default_datastore_id, select_host
from vrm.storage.repository import HostDatastoreRepository, VolumeRepository
from vrm.vms.repository import VmRepository
from vrm.vms.schemas import NicCreate, VmCreate
from vrm.vms.spec import volume_name

_DEVICE_PREFIX = {DiskBus.VIRTIO: "vd", DiskBus.SCSI: "sd", DiskBus.SATA: "sd", DiskBus.IDE: "hd"}


@dataclass
class Plan:
    """What a create request refers to, checked."""

    existing: dict[int, Volume] = field(default_factory=dict)


def plan(session: Session, data: VmCreate) -> Plan:
    """Check every id the request names; 422 for unknown ones, 409 for attached volumes."""
    groups = PortGroupRepository(session)
    for i, nic in enumerate(data.nics):
        get_ref_or_422(groups, nic.port_group_id, "port group", f"nics[{i}].port_group_id")
    result = Plan()
    volumes, vms = VolumeRepository(session), VmRepository(session)
    for i, disk in enumerate(data.disks):
        if disk.volume_id is None:
            continue
        volume = get_ref_or_422(volumes, disk.volume_id, "volume", f"disks[{i}].volume_id")
        if vms.disk_of_volume(volume.id) is not None:
            raise Conflict(
                f"volume {volume.name} is attached to another VM",
                code="volume_in_use",
                details={"volume_id": str(volume.id)},
            )
        result.existing[i] = volume
    return result


def place(session: Session, data: VmCreate, checked: Plan) -> Placement:
    """Choose the host (409 ``no_valid_host`` with reasons when none fits)."""
    disk_mib: dict[uuid.UUID | None, int] = defaultdict(int)
    for disk in data.disks:
        if disk.size_mib is not None:
            disk_mib[disk.datastore_id] += disk.size_mib
    for volume in checked.existing.values():
        disk_mib.setdefault(volume.datastore_id, 0)
    request = PlacementRequest(
        cluster_id=data.cluster_id,
        vcpus=data.vcpus,
        memory_mib=data.memory_mib,
        disk_mib=dict(disk_mib),
        port_group_ids=tuple(n.port_group_id for n in data.nics),
        host_id=data.host_id,
    )
    return select_host(session, request=request)


def next_device(bus: DiskBus, taken: set[str]) -> str:
    """The first free device name of a bus (vda, vdb, ...; sda ...; hda ...), never the
    cloud-init seed's CD-ROM."""
    prefix = _DEVICE_PREFIX[bus]
    for letter in string.ascii_lowercase:
        if prefix + letter not in taken and prefix + letter != SEED_DEVICE:
            return prefix + letter
    raise Conflict("no free device name left on this bus", code="too_many_disks")


def attach_new(
    session: Session,
    vm: Vm,
    placement: Placement,
    data: VmCreate,
    checked: Plan,
    *,
    mac_prefix: str,
) -> None:
    """Add the VM's volumes, disks and NICs (the VM row exists, placed as ``placement``)."""
    taken: set[str] = set()
    for i, disk in enumerate(data.disks):
        device = next_device(disk.bus, taken)
        taken.add(device)
        volume = checked.existing.get(i) or new_volume(
            session,
            vm,
            placement.host,
            disk.datastore_id or placement.default_datastore_id,
            device,
            disk.size_mib or 0,
        )
        session.add(
            VmDisk(
                vm_id=vm.id,
                volume_id=volume.id,
                device=device,
                bus=disk.bus,
                boot_index=1 if i == 0 else None,
            )
        )
    VmRepository(session).flush(conflict="a volume is already in use")
    for slot, nic in enumerate(data.nics):
        add_nic(session, vm, nic, slot=slot, mac_prefix=mac_prefix)


def add_nic(session: Session, vm: Vm, nic: NicCreate, *, slot: int, mac_prefix: str) -> VmNic:
    """A NIC row (its port group checked by the caller) with the MAC asked for (409
    ``mac_in_use`` when taken) or a new one from ``mac_prefix``, and its addresses from the
    port group's IP pools."""
    repo = VmRepository(session)
    mac = (nic.mac or new_mac(repo, mac_prefix)).lower()
    if repo.mac_taken(mac):
        raise Conflict(f"MAC {mac} is already in use", code="mac_in_use", details={"mac": mac})
    row = VmNic(vm_id=vm.id, port_group_id=nic.port_group_id, slot=slot, mac=mac, model=nic.model)
    session.add(row)
    repo.flush(conflict=f"MAC {mac} is already in use")
    allocator.assign(session, row, nic.ips)
    return row


def new_volume(
    session: Session, vm: Vm, host: Host, datastore_id: uuid.UUID | None, device: str, size: int
) -> Volume:
    """A volume row (state creating) for a VM's new disk, on a datastore ``host`` reaches."""
    links = HostDatastoreRepository(session).for_host(host.id)
    # The same default the scheduler's datastore filter counted the space on.
    chosen = datastore_id or default_datastore_id(session, host_id=host.id)
    if chosen is None or chosen not in {link.datastore_id for link in links}:
        raise ValidationFailed(
            f"host {host.name} reaches no such datastore",
            code="datastore_unreachable",
            details={"datastore_id": str(datastore_id) if datastore_id else None},
        )
    volume = Volume(
        datastore_id=chosen,
        name=volume_name(vm, device),
        capacity_mib=size,
        state=ObjectState.CREATING,
    )
    session.add(volume)
    session.flush()
    return volume


def new_mac(repo: VmRepository, prefix: str) -> str:
    """A MAC address starting with ``prefix`` that no NIC of the installation has."""
    free_octets = 6 - len(prefix.split(":"))
    for _ in range(32):
        mac = prefix.lower() + "".join(f":{b:02x}" for b in secrets.token_bytes(free_octets))
        if not repo.mac_taken(mac):
            return mac
    raise Conflict("could not find a free MAC address", code="mac_exhausted")
