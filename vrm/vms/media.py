"""Install media: inserting an ISO image into a VM's CD-ROM drive, or ejecting it.

The drive's new content is recorded now, with the claim; the task changes it on the node
(live when the VM runs) and puts the old content back if that fails.
"""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from vrm.auth.principal import Principal
from vrm.errors import Conflict, NotFound
from vrm.images.service import usable
from vrm.models import HostDatastore, Task, Vm, VmCdrom
from vrm.models.enums import ImageFormat
from vrm.vms.service import get_vm, operate
from vrm.vms.states import Operation


def change_media(
    session: Session,
    *,
    actor: Principal,
    vm_id: uuid.UUID,
    image_id: uuid.UUID | None,
    device: str | None,
) -> tuple[Vm, Task]:
    """Put ``image_id`` (an ISO image) into a drive of the VM, or empty it (None)."""
    vm = get_vm(session, vm_id=vm_id)
    drive = _drive(vm, device)
    if image_id is not None:
        image = usable(session, image_id, "image_id", ImageFormat.ISO)
        if (
            vm.host_id is not None
            and session.get(HostDatastore, (vm.host_id, image.datastore_id)) is None
        ):
            raise Conflict(
                f"the host of VM {vm.name} does not reach the datastore of image {image.name}",
                code="datastore_unreachable",
                details={"datastore_id": str(image.datastore_id)},
            )
    params = {
        "device": drive.device,
        "image_id": str(image_id) if image_id else None,
        "previous_image_id": str(drive.image_id) if drive.image_id else None,
    }
    _, task = operate(session, actor=actor, vm_id=vm.id, op=Operation.CHANGE_MEDIA, params=params)
    drive.image_id = image_id
    session.flush()
    return get_vm(session, vm_id=vm.id), task


def _drive(vm: Vm, device: str | None) -> VmCdrom:
    """The drive named, or the VM's first one."""
    drives = sorted(vm.cdroms, key=lambda d: d.device)
    if not drives:
        raise Conflict(
            f"VM {vm.name} has no CD-ROM drive (add one with cdroms when creating it)",
            code="no_cdrom",
        )
    if device is None:
        return drives[0]
    for drive in drives:
        if drive.device == device:
            return drive
    raise NotFound(
        f"VM {vm.name} has no CD-ROM drive {device}",
        code="cdrom_not_found",
        details={"device": device, "drives": [d.device for d in drives]},
    )
