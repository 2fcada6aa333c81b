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
from vrm.images.service import usable
from vrm.models import Host, Image, Vm, VmCdrom, VmDisk, VmNic, Volume
from vrm.models.enums import DiskBus, ImageFormat, ObjectState
from vrm.network import allocator
from vrm.network.repository import PortGroupRepository
from vrm.scheduler.interface import PlacementRequest
from vrm.scheduler.service import Placement, default_datastore_id, select_host
from vrm.storage.repository import HostDatastoreRepository, VolumeRepository
from vrm.vms.repository import VmRepository
from vrm.vms.schemas import DiskCreate, NicCreate, VmCreate
from vrm.vms.spec import volume_name

MIB = 1024 * 1024
_DEVICE_PREFIX = {DiskBus.VIRTIO: "vd", DiskBus.SCSI: "sd", DiskBus.SATA: "sd", DiskBus.IDE: "hd"}


@dataclass
class Plan:
    """What a create request refers to, checked: existing volumes and images of disks (by
    the disk's index), and the image of each CD-ROM drive."""

    existing: dict[int, Volume] = field(default_factory=dict)
    images: dict[int, Image] = field(default_factory=dict)
    cdroms: list[Image | None] = field(default_factory=list)
    # Filled by ``attach_new``: the new volumes made from images, for the create task.
    from_images: dict[str, dict[str, object]] = field(default_factory=dict)


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
    result.images = _disk_images(session, data)
    result.cdroms = [
        usable(session, c.image_id, f"cdroms[{i}].image_id", ImageFormat.ISO)
        if c.image_id is not None
        else None
        for i, c in enumerate(data.cdroms)
    ]
    return result


def _disk_images(session: Session, data: VmCreate) -> dict[int, Image]:
    """The images disks are made from (qcow2 or raw, ready; a linked clone lives in the
    image's datastore)."""
    found = {}
    for i, disk in enumerate(data.disks):
        if disk.image_id is None:
            continue
        field_name = f"disks[{i}].image_id"
        image = usable(session, disk.image_id, field_name, ImageFormat.QCOW2, ImageFormat.RAW)
        if disk.clone == "linked" and disk.datastore_id not in (None, image.datastore_id):
            raise ValidationFailed(
                f"disks[{i}]: a linked clone lives in its image's datastore",
                code="image_datastore_mismatch",
                details={"field": f"disks[{i}].datastore_id"},
            )
        found[i] = image
    return found


def image_disk_mib(disk: DiskCreate, image: Image) -> int:
    """The size of a disk made from an image: what was asked, at least the image's."""
    return max(disk.size_mib or 0, -(-image.virtual_size_bytes // MIB), 1)


def place(session: Session, data: VmCreate, checked: Plan) -> Placement:
    """Choose the host (409 ``no_valid_host`` with reasons when none fits)."""
    disk_mib: dict[uuid.UUID | None, int] = defaultdict(int)
    for i, disk in enumerate(data.disks):
        image = checked.images.get(i)
        if image is not None:
            # The host reads the image; a copy takes the disk's full size, a clone little.
            disk_mib.setdefault(image.datastore_id, 0)
            if disk.clone == "copy":
                disk_mib[disk.datastore_id] += image_disk_mib(disk, image)
        elif disk.size_mib is not None:
            disk_mib[disk.datastore_id] += disk.size_mib
    for volume in checked.existing.values():
        disk_mib.setdefault(volume.datastore_id, 0)
    for cdrom in checked.cdroms:
        if cdrom is not None:
            disk_mib.setdefault(cdrom.datastore_id, 0)
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
        volume = checked.existing.get(i) or _new_disk_volume(
            session, vm, placement, disk, device, checked, checked.images.get(i)
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
    for cdrom in checked.cdroms:
        device = next_device(DiskBus.IDE, taken)
        taken.add(device)
        session.add(
            VmCdrom(vm_id=vm.id, device=device, image_id=cdrom.id if cdrom is not None else None)
        )
    VmRepository(session).flush(conflict="a volume is already in use")
    for slot, nic in enumerate(data.nics):
        add_nic(session, vm, nic, slot=slot, mac_prefix=mac_prefix)


def _new_disk_volume(
    session: Session,
    vm: Vm,
    placement: Placement,
    disk: DiskCreate,
    device: str,
    checked: Plan,
    image: Image | None,
) -> Volume:
    """The new volume of a disk: blank, or made from an image (noted in ``checked``)."""
    if image is None:
        store = disk.datastore_id or placement.default_datastore_id
        return new_volume(session, vm, placement.host, store, device, disk.size_mib or 0)
    linked = disk.clone == "linked"
    store = image.datastore_id if linked else disk.datastore_id or placement.default_datastore_id
    size = image_disk_mib(disk, image)
    volume = new_volume(session, vm, placement.host, store, device, size)
    if linked:
        volume.base_image_id = image.id
    checked.from_images[str(volume.id)] = {"image_id": str(image.id), "linked": linked}
    return volume


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
