"""``/api/v1/vms``: create, read, operate and delete VMs. Every change answers 202 + task."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response, status

from vrm.deps import CurrentUser, SessionDep, SettingsDep, TasksDep, Writer
from vrm.errors import Conflict, Forbidden, NotFound, ValidationFailed, error_responses
from vrm.images import service as image_service
from vrm.images.schemas import ExportBody, ImageAccepted, ImageRead
from vrm.listing import ListDep, TextFilter
from vrm.migration import service as migration
from vrm.migration.schemas import MigrateBody
from vrm.models import Task, Vm
from vrm.models.enums import VmState
from vrm.schemas import Page, json_of
from vrm.tasks.schemas import TaskRead
from vrm.vms import changes, media, service, views
from vrm.vms.schemas import (
    AttachDiskBody,
    AttachNicBody,
    CloneBody,
    DetachDiskBody,
    DetachNicBody,
    EjectMediaBody,
    InsertMediaBody,
    ResizeBody,
    SetIpsBody,
    SnapshotBody,
    StopBody,
    VmAccepted,
    VmCreate,
    VmRead,
    VmUpdate,
)
from vrm.vms.states import Operation

router = APIRouter(prefix="/vms", tags=["vms"])

SimpleAction = Literal["start", "reboot", "pause", "resume"]

_OPERATION_ERRORS = error_responses(Conflict, Forbidden, NotFound, ValidationFailed)


def _accepted(vm: Vm, task: Task) -> VmAccepted:
    return VmAccepted(vm=VmRead.model_validate(vm), task=TaskRead.model_validate(task))


@router.get("", response_model=Page[VmRead], responses=error_responses(ValidationFailed))
def list_vms(
    session: SessionDep,
    _user: CurrentUser,
    params: ListDep,
    cluster_id: uuid.UUID | None = None,
    host_id: uuid.UUID | None = None,
    state: VmState | None = None,
    name: TextFilter = None,
    is_template: bool | None = None,
) -> Response:
    """List VMs and templates, filtered by cluster, host, state, name or template flag."""
    filters = {
        "cluster_id": cluster_id,
        "host_id": host_id,
        "state": state,
        "name": name,
        "is_template": is_template,
    }
    return json_of(views.vm_page(session, params=params, filters=filters))


@router.post("", status_code=status.HTTP_202_ACCEPTED, responses=_OPERATION_ERRORS)
def create_vm(
    session: SessionDep, settings: SettingsDep, user: Writer, data: VmCreate
) -> VmAccepted:
    """Create a VM: placed now (409 ``no_valid_host`` with reasons), built by its task."""
    return _accepted(
        *service.create_vm(session, actor=user, data=data, mac_prefix=settings.mac_prefix)
    )


@router.get("/{vm_id}", response_model=VmRead, responses=error_responses(NotFound))
def get_vm(session: SessionDep, _user: CurrentUser, vm_id: uuid.UUID) -> Response:
    """One VM with its disks and NICs."""
    return json_of(views.vm_view(session, vm_id=vm_id))


@router.patch(
    "/{vm_id}",
    response_model=VmRead,
    responses=error_responses(Forbidden, NotFound, ValidationFailed),
)
def update_vm(session: SessionDep, user: Writer, vm_id: uuid.UUID, data: VmUpdate) -> Response:
    """Change a VM's description, HA flag or console exclusivity."""
    service.update_vm(session, actor=user, vm_id=vm_id, data=data)
    return json_of(views.vm_view(session, vm_id=vm_id))


@router.delete("/{vm_id}", status_code=status.HTTP_202_ACCEPTED, responses=_OPERATION_ERRORS)
def delete_vm(
    session: SessionDep,
    user: Writer,
    vm_id: uuid.UUID,
    delete_volumes: Annotated[bool, Query(description="delete its volumes too")] = True,
) -> VmAccepted:
    """Delete a stopped VM, with or without its volumes."""
    params = {"delete_volumes": delete_volumes}
    return _accepted(
        *service.operate(session, actor=user, vm_id=vm_id, op=Operation.DELETE, params=params)
    )


@router.post(
    "/{vm_id}/actions/stop", status_code=status.HTTP_202_ACCEPTED, responses=_OPERATION_ERRORS
)
def stop(
    session: SessionDep, user: Writer, vm_id: uuid.UUID, body: StopBody | None = None
) -> VmAccepted:
    """Shut the guest down (ACPI); ``force`` powers it off when it does not obey in time;
    ``{"mode": "poweroff"}`` (or ``force`` with ``timeout_s`` 0) powers it off at once."""
    stop_body = body or StopBody()
    params = stop_body.model_dump()
    if stop_body.at_once:
        params["mode"] = "poweroff"
    return _accepted(
        *service.operate(session, actor=user, vm_id=vm_id, op=Operation.STOP, params=params)
    )


@router.post(
    "/{vm_id}/actions/resize", status_code=status.HTTP_202_ACCEPTED, responses=_OPERATION_ERRORS
)
def resize(session: SessionDep, user: Writer, vm_id: uuid.UUID, body: ResizeBody) -> VmAccepted:
    """Hot-add vCPUs/memory within the maxima while running; any change while stopped."""
    return _accepted(*service.resize(session, actor=user, vm_id=vm_id, body=body))


@router.post(
    "/{vm_id}/actions/snapshot", status_code=status.HTTP_202_ACCEPTED, responses=_OPERATION_ERRORS
)
def snapshot(session: SessionDep, user: Writer, vm_id: uuid.UUID, body: SnapshotBody) -> VmAccepted:
    """Create, revert to or delete a named snapshot."""
    return _accepted(
        *service.operate(
            session, actor=user, vm_id=vm_id, op=Operation.SNAPSHOT, params=body.model_dump()
        )
    )


@router.post(
    "/{vm_id}/actions/attach-disk",
    status_code=status.HTTP_202_ACCEPTED,
    responses=_OPERATION_ERRORS,
)
def attach_disk(
    session: SessionDep, user: Writer, vm_id: uuid.UUID, body: AttachDiskBody
) -> VmAccepted:
    """Add a disk: a new volume of ``size_mib`` or an existing unattached ``volume_id``."""
    return _accepted(*changes.attach_disk(session, actor=user, vm_id=vm_id, body=body))


@router.post(
    "/{vm_id}/actions/detach-disk",
    status_code=status.HTTP_202_ACCEPTED,
    responses=_OPERATION_ERRORS,
)
def detach_disk(
    session: SessionDep, user: Writer, vm_id: uuid.UUID, body: DetachDiskBody
) -> VmAccepted:
    """Remove a disk by device name; its volume is kept unless ``delete_volume``."""
    return _accepted(*changes.detach_disk(session, actor=user, vm_id=vm_id, body=body))


@router.post(
    "/{vm_id}/actions/attach-nic",
    status_code=status.HTTP_202_ACCEPTED,
    responses=_OPERATION_ERRORS,
)
def attach_nic(
    session: SessionDep, settings: SettingsDep, user: Writer, vm_id: uuid.UUID, body: AttachNicBody
) -> VmAccepted:
    """Add a NIC on a port group (addresses from its IP pools)."""
    prefix = settings.mac_prefix
    return _accepted(
        *changes.attach_nic(session, actor=user, vm_id=vm_id, body=body, mac_prefix=prefix)
    )


@router.post(
    "/{vm_id}/actions/detach-nic",
    status_code=status.HTTP_202_ACCEPTED,
    responses=_OPERATION_ERRORS,
)
def detach_nic(
    session: SessionDep, user: Writer, vm_id: uuid.UUID, body: DetachNicBody
) -> VmAccepted:
    """Remove a NIC by MAC."""
    return _accepted(*changes.detach_nic(session, actor=user, vm_id=vm_id, body=body))


@router.post(
    "/{vm_id}/actions/set-ips",
    status_code=status.HTTP_202_ACCEPTED,
    responses=_OPERATION_ERRORS,
)
def set_ips(session: SessionDep, user: Writer, vm_id: uuid.UUID, body: SetIpsBody) -> VmAccepted:
    """Give a NIC new addresses (its IP-MAC filter and cloud-init seed follow)."""
    return _accepted(*changes.set_ips(session, actor=user, vm_id=vm_id, body=body))


@router.post(
    "/{vm_id}/actions/clone", status_code=status.HTTP_202_ACCEPTED, responses=_OPERATION_ERRORS
)
def clone(
    session: SessionDep, settings: SettingsDep, user: Writer, vm_id: uuid.UUID, body: CloneBody
) -> VmAccepted:
    """A new VM from a stopped VM or a template: ``linked`` (qcow2 backing files) or ``full``."""
    prefix = settings.mac_prefix
    return _accepted(*changes.clone(session, actor=user, vm_id=vm_id, body=body, mac_prefix=prefix))


@router.post(
    "/{vm_id}/actions/convert-to-template",
    status_code=status.HTTP_202_ACCEPTED,
    responses=_OPERATION_ERRORS,
)
def convert_to_template(session: SessionDep, user: Writer, vm_id: uuid.UUID) -> VmAccepted:
    """Turn a stopped VM into a template."""
    return _accepted(*changes.convert_to_template(session, actor=user, vm_id=vm_id))


@router.post(
    "/{vm_id}/actions/insert-media",
    status_code=status.HTTP_202_ACCEPTED,
    responses=_OPERATION_ERRORS,
)
def insert_media(
    session: SessionDep, user: Writer, vm_id: uuid.UUID, body: InsertMediaBody
) -> VmAccepted:
    """Put an ISO image into a CD-ROM drive (live when running)."""
    return _accepted(
        *media.change_media(
            session, actor=user, vm_id=vm_id, image_id=body.image_id, device=body.device
        )
    )


@router.post(
    "/{vm_id}/actions/eject-media",
    status_code=status.HTTP_202_ACCEPTED,
    responses=_OPERATION_ERRORS,
)
def eject_media(
    session: SessionDep, user: Writer, vm_id: uuid.UUID, body: EjectMediaBody | None = None
) -> VmAccepted:
    """Empty a CD-ROM drive (live when running)."""
    device = body.device if body is not None else None
    return _accepted(
        *media.change_media(session, actor=user, vm_id=vm_id, image_id=None, device=device)
    )


@router.post(
    "/{vm_id}/actions/export-image",
    status_code=status.HTTP_202_ACCEPTED,
    responses=_OPERATION_ERRORS,
)
def export_image(
    session: SessionDep, user: Writer, vm_id: uuid.UUID, body: ExportBody
) -> ImageAccepted:
    """Copy a template's first disk into a new qcow2 image (to move it between datastores)."""
    image, task = image_service.export_template(session, actor=user, vm_id=vm_id, body=body)
    return ImageAccepted(image=ImageRead.model_validate(image), task=TaskRead.model_validate(task))


@router.post(
    "/{vm_id}/actions/migrate", status_code=status.HTTP_202_ACCEPTED, responses=_OPERATION_ERRORS
)
def migrate(
    session: SessionDep,
    runtime: TasksDep,
    user: Writer,
    vm_id: uuid.UUID,
    body: MigrateBody | None = None,
) -> VmAccepted:
    """Move a VM to another host of its cluster: live when it runs, cold when stopped.
    Without ``host_id`` the scheduler picks the target; every pre-check refuses with 409
    and its own code before anything moves."""
    vm, task = migration.migrate(
        session, actor=user, runtime=runtime, vm_id=vm_id, body=body or MigrateBody()
    )
    return _accepted(vm, task)


@router.post(
    "/{vm_id}/actions/{action}", status_code=status.HTTP_202_ACCEPTED, responses=_OPERATION_ERRORS
)
def simple_action(
    session: SessionDep, user: Writer, vm_id: uuid.UUID, action: SimpleAction
) -> VmAccepted:
    """``start``, ``reboot``, ``pause`` or ``resume``."""
    return _accepted(*service.operate(session, actor=user, vm_id=vm_id, op=Operation(action)))
