"""Image rules: where an image lives, which node takes its data in, and when it may go.

An image's data arrives in one of three ways, each ending with the node's validation:
an upload relayed by VRM (``vrm.images.upload``), a URL or path the node fetches, or a
template's disk copied (both through the ``image.import`` task).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from cna_agent.protocol.images import ImageReport
from vrm.audit.service import record
from vrm.auth.principal import Principal
from vrm.config import Settings
from vrm.crud import apply_update, ensure_unique, get_or_404, get_ref_or_422
from vrm.errors import Conflict, NotFound, ValidationFailed
from vrm.hosts.repository import HostRepository
from vrm.images.repository import ImageRepository
from vrm.images.schemas import ExportBody, ImageCreate, ImageUpdate
from vrm.listing import ListParams
from vrm.models import Datastore, Image, Task, Vm
from vrm.models.enums import ImageFormat, ImageSource, ImageState
from vrm.scheduler.service import default_datastore_id
from vrm.storage.repository import DatastoreRepository, VolumeRepository
from vrm.tasks.service import queue_task
from vrm.tasks.types import TaskType
from vrm.vms.repository import VmRepository
from vrm.vms.states import Operation

KIND = "image"
MIB = 1024 * 1024
IMPORT = TaskType.IMAGE_IMPORT
DELETE = TaskType.IMAGE_DELETE


@dataclass(frozen=True, slots=True)
class Worker:
    """The node that takes an image's data in, and its pool for the image's datastore."""

    host_id: uuid.UUID
    pool: str


def volume_name(image: Image) -> str:
    """The image's file name in its datastore (libvirt-safe, unique, with its format)."""
    return f"img-{image.id.hex[:12]}.{image.format.value}"


def apply_report(image: Image, report: ImageReport) -> None:
    """Record what the node found: the image is ready."""
    image.state, image.progress = ImageState.READY, 100
    image.size_bytes, image.virtual_size_bytes = report.size_bytes, report.virtual_size_bytes
    image.sha256 = report.sha256
    image.error_code = image.error_message = None


def mark_failed(image: Image, code: str, message: str) -> None:
    """The image is unusable, and says why."""
    image.state, image.error_code, image.error_message = ImageState.FAILED, code, message[:2000]


def list_images(
    session: Session, *, params: ListParams, filters: Mapping[str, object]
) -> tuple[Sequence[Image], int]:
    """A page of images."""
    return ImageRepository(session).page(params, filters)


def get_image(session: Session, *, image_id: uuid.UUID) -> Image:
    """One image, or 404."""
    return get_or_404(ImageRepository(session), image_id, KIND)


def create_image(
    session: Session, *, actor: Principal, data: ImageCreate
) -> tuple[Image, Task | None]:
    """Record an image; with a URL or path, queue the node's import of it."""
    datastore = _datastore(session, data.datastore_id, data.host_id)
    repo = ImageRepository(session)
    taken = f"an image named {data.name!r} already exists in datastore {datastore.name!r}"
    ensure_unique(repo, taken, datastore_id=datastore.id, name=data.name)
    source = ImageSource.URL if data.url else ImageSource.PATH if data.path else ImageSource.UPLOAD
    image = Image(
        id=uuid.uuid4(),
        name=data.name,
        description=data.description,
        format=data.format,
        os_hint=data.os_hint,
        datastore_id=datastore.id,
        source=source,
        source_ref=data.url or data.path or "",
        expected_sha256=data.sha256,
        state=ImageState.UPLOADING,
    )
    image.volume_name = volume_name(image)
    repo.add(image, conflict=taken)
    task = None
    if source is not ImageSource.UPLOAD:
        worker = pick_worker(session, datastore.id, data.host_id)
        task = _queue_import(session, actor, image, worker, {})
    record(session, actor=actor, action="image.create", target_type=KIND, target_id=image.id)
    return image, task


def export_template(
    session: Session, *, actor: Principal, vm_id: uuid.UUID, body: ExportBody
) -> tuple[Image, Task]:
    """Queue the copy of a template's first disk into a new qcow2 image."""
    vm = VmRepository(session).full(vm_id)
    if vm is None:
        raise NotFound.of("vm", vm_id)
    disk = get_or_404(VolumeRepository(session), _exportable_disk(vm), "volume")
    target = body.datastore_id or disk.datastore_id
    datastore = get_ref_or_422(DatastoreRepository(session), target, "datastore", "datastore_id")
    repo = ImageRepository(session)
    taken = f"an image named {body.name!r} already exists in datastore {datastore.name!r}"
    ensure_unique(repo, taken, datastore_id=datastore.id, name=body.name)
    worker = _worker_for_both(session, disk.datastore_id, datastore.id)
    if not VmRepository(session).claim(vm.id, Operation.EXPORT_IMAGE):
        raise Conflict(
            f"template {vm.name} is busy with {vm.task_state}; try again when it has finished",
            code="vm_busy",
            details={"task_state": vm.task_state},
        )
    image = Image(
        id=uuid.uuid4(),
        name=body.name,
        description=body.description or vm.description,
        format=ImageFormat.QCOW2,
        os_hint=body.os_hint,
        datastore_id=datastore.id,
        source=ImageSource.TEMPLATE,
        source_ref=str(vm.id),
        state=ImageState.UPLOADING,
    )
    image.volume_name = volume_name(image)
    repo.add(image, conflict=taken)
    task = _queue_import(
        session, actor, image, worker, {"volume_id": str(disk.id), "vm_id": str(vm.id)}
    )
    record(
        session,
        actor=actor,
        action="vm.export-image",
        target_type="vm",
        target_id=vm.id,
        details={"image_id": str(image.id), "task_id": str(task.id)},
    )
    return image, task


def update_image(
    session: Session, *, actor: Principal, image_id: uuid.UUID, data: ImageUpdate
) -> Image:
    """Rename an image or change its description or OS hint."""
    repo = ImageRepository(session)
    image = get_or_404(repo, image_id, KIND)
    taken = f"an image named {data.name!r} already exists in this datastore"
    if data.name is not None and data.name != image.name:
        ensure_unique(repo, taken, datastore_id=image.datastore_id, name=data.name)
    changes = apply_update(image, data)
    repo.flush(conflict=taken)
    record(
        session,
        actor=actor,
        action="image.update",
        target_type=KIND,
        target_id=image.id,
        details=changes,
    )
    return image


def delete_image(session: Session, *, actor: Principal, image_id: uuid.UUID) -> Task:
    """Queue the removal of an unused image from its datastore (409 while in use or busy)."""
    repo = ImageRepository(session)
    image = get_or_404(repo, image_id, KIND)
    users = repo.users(image.id)
    if users:
        raise Conflict(
            f"image {image.name!r} is used by {users} VM CD-ROM(s) or linked clone(s)",
            code="image_in_use",
            details={"users": users},
        )
    previous = image.state
    if previous is ImageState.DELETING or (
        previous is ImageState.UPLOADING and image.task_id is not None
    ):
        raise Conflict(
            f"image {image.name!r} is {previous.value}; wait for its task",
            code="image_busy",
            details={"state": previous.value, "task_id": str(image.task_id)},
        )
    if not repo.set_state(image.id, ImageState.DELETING, expected=previous):
        raise Conflict(f"image {image.name!r} changed meanwhile; try again", code="image_busy")
    task = queue_task(
        session,
        type=DELETE,
        target_type=KIND,
        target_id=image.id,
        user_id=actor.user_id,
        params={"previous_state": previous.value},
    )
    record(session, actor=actor, action="image.delete", target_type=KIND, target_id=image.id)
    return task


def usable(session: Session, image_id: uuid.UUID, field: str, *formats: ImageFormat) -> Image:
    """An image a VM may use in ``field``: it exists, is ready and has one of ``formats``."""
    image = get_ref_or_422(ImageRepository(session), image_id, KIND, field)
    if image.state is not ImageState.READY:
        raise Conflict(
            f"{field}: image {image.name!r} is {image.state.value}, not ready",
            code="image_not_ready",
            details={"field": field, "state": image.state.value},
        )
    if image.format not in formats:
        wanted = " or ".join(f.value for f in formats)
        raise ValidationFailed(
            f"{field}: image {image.name!r} is {image.format.value}; this needs {wanted}",
            code="image_format_unsuitable",
            details={"field": field, "format": image.format.value},
        )
    return image


def pick_worker(
    session: Session, datastore_id: uuid.UUID, host_id: uuid.UUID | None = None
) -> Worker:
    """A normal host that reaches the datastore (``host_id`` if given); 409 when none."""
    reaching = ImageRepository(session).hosts_reaching(datastore_id)
    for found, pool in reaching:
        if host_id is None or found == host_id:
            return Worker(found, pool)
    message = (
        f"host {host_id} is not normal or does not reach datastore {datastore_id}"
        if host_id
        else f"no normal host reaches datastore {datastore_id} now"
    )
    raise Conflict(
        message,
        code="datastore_unreachable",
        details={"datastore_id": str(datastore_id)},
    )


def hosts_ever_reaching(session: Session, datastore_id: uuid.UUID) -> bool:
    """Whether any host (in whatever state) has the datastore."""
    return bool(DatastoreRepository(session).host_ids([datastore_id])[datastore_id])


def check_size(settings: Settings, datastore: Datastore, size_bytes: int | None) -> None:
    """Refuse an image larger than ``VRM_IMAGE_MAX_MIB`` (422) or than the datastore's free
    space (409), before any byte is copied."""
    if size_bytes is None:
        return
    limit = settings.image_max_mib * MIB
    if size_bytes > limit:
        raise ValidationFailed(
            f"the image has {size_bytes} bytes; images may have at most "
            f"{settings.image_max_mib} MiB (VRM_IMAGE_MAX_MIB)",
            code="image_too_large",
            details={"size_bytes": size_bytes, "max_bytes": limit},
        )
    free = max(datastore.capacity_mib - datastore.allocated_mib, 0) * MIB
    if datastore.capacity_mib and size_bytes > free:
        raise Conflict(
            f"datastore {datastore.name!r} has {free // MIB} MiB free; the image needs "
            f"{-(-size_bytes // MIB)} MiB",
            code="insufficient_space",
            details={"size_bytes": size_bytes, "free_bytes": free},
        )


def _datastore(
    session: Session, datastore_id: uuid.UUID | None, host_id: uuid.UUID | None
) -> Datastore:
    """The datastore named, or the default one of ``host_id`` or of the first normal host."""
    repo = DatastoreRepository(session)
    if datastore_id is not None:
        return get_ref_or_422(repo, datastore_id, "datastore", "datastore_id")
    hosts = HostRepository(session)
    if host_id is not None:
        get_ref_or_422(hosts, host_id, "host", "host_id")
    candidates = [host_id] if host_id else list(hosts.normal_ids())
    for candidate in candidates:
        chosen = default_datastore_id(session, host_id=candidate)
        if chosen is not None:
            store = repo.get(chosen)
            assert store is not None
            return store
    raise Conflict(
        "no normal host has a datastore for the image; name a datastore_id",
        code="datastore_unreachable",
    )


def _exportable_disk(vm: Vm) -> uuid.UUID:
    """The volume of a template's first disk (only templates and stopped VMs export)."""
    if not vm.is_template:
        raise Conflict(
            f"{vm.name} is not a template; convert it to a template first",
            code="vm_not_template",
        )
    disks = sorted(vm.disks, key=lambda d: d.device)
    if not disks:
        raise Conflict(f"template {vm.name} has no disk to export", code="template_no_disk")
    return disks[0].volume_id


def _worker_for_both(session: Session, source_id: uuid.UUID, target_id: uuid.UUID) -> Worker:
    """A normal host that reaches both datastores (the copy runs on it)."""
    repo = ImageRepository(session)
    sources = {host for host, _pool in repo.hosts_reaching(source_id)}
    for host, pool in repo.hosts_reaching(target_id):
        if host in sources:
            return Worker(host, pool)
    raise Conflict(
        "no normal host reaches both the template's datastore and the target datastore",
        code="datastore_unreachable",
        details={"source_datastore_id": str(source_id), "datastore_id": str(target_id)},
    )


def _queue_import(
    session: Session, actor: Principal, image: Image, worker: Worker, extra: dict[str, str]
) -> Task:
    task = queue_task(
        session,
        type=IMPORT,
        target_type=KIND,
        target_id=image.id,
        user_id=actor.user_id,
        params={"host_id": str(worker.host_id), **extra},
    )
    image.task_id = task.id
    session.flush()
    return task
