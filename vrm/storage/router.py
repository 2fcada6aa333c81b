"""``/api/v1/datastores`` and ``/api/v1/volumes``."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, status

from vrm.deps import CurrentUser, SessionDep, Writer
from vrm.errors import Conflict, Forbidden, NotFound, ValidationFailed, error_responses
from vrm.listing import ListDep, TextFilter
from vrm.models.enums import DatastoreType, ObjectState
from vrm.schemas import Page
from vrm.storage import mounts, service
from vrm.storage.schemas import (
    AttachBody,
    DatastoreCreate,
    DatastoreRead,
    DatastoreUpdate,
    VolumeRead,
)
from vrm.storage.service import DatastoreView
from vrm.tasks.schemas import TaskRead

datastores = APIRouter(prefix="/datastores", tags=["datastores"])
volumes = APIRouter(prefix="/volumes", tags=["volumes"])


def _read(view: DatastoreView) -> DatastoreRead:
    return DatastoreRead.of(view.datastore, view.host_ids)


@datastores.get("", responses=error_responses(ValidationFailed))
def list_datastores(
    session: SessionDep,
    _user: CurrentUser,
    params: ListDep,
    site_id: uuid.UUID | None = None,
    name: TextFilter = None,
    type: DatastoreType | None = None,
    state: ObjectState | None = None,
) -> Page[DatastoreRead]:
    """List datastores, filtered by site, name, type or state."""
    filters = {"site_id": site_id, "name": name, "type": type, "state": state}
    items, total = service.list_datastores(session, params=params, filters=filters)
    return Page(items=[_read(v) for v in items], total=total)


@datastores.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(Conflict, Forbidden, ValidationFailed),
)
def create_datastore(session: SessionDep, user: Writer, data: DatastoreCreate) -> DatastoreRead:
    """Register a datastore; nodes report its capacity once they reach it."""
    return _read(service.create_datastore(session, actor=user, data=data))


@datastores.post(
    "/{datastore_id}/hosts",
    status_code=status.HTTP_202_ACCEPTED,
    responses=error_responses(Conflict, Forbidden, NotFound, ValidationFailed),
)
def attach_datastore(
    session: SessionDep, user: Writer, datastore_id: uuid.UUID, body: AttachBody
) -> TaskRead:
    """Attach a shared datastore to a host (a task: the node mounts it as a pool)."""
    task = mounts.attach(session, actor=user, datastore_id=datastore_id, host_id=body.host_id)
    return TaskRead.model_validate(task)


@datastores.get("/{datastore_id}", responses=error_responses(NotFound))
def get_datastore(
    session: SessionDep, _user: CurrentUser, datastore_id: uuid.UUID
) -> DatastoreRead:
    """One datastore, with the hosts that can reach it."""
    return _read(service.get_datastore(session, datastore_id=datastore_id))


@datastores.patch(
    "/{datastore_id}", responses=error_responses(Conflict, Forbidden, NotFound, ValidationFailed)
)
def update_datastore(
    session: SessionDep, user: Writer, datastore_id: uuid.UUID, data: DatastoreUpdate
) -> DatastoreRead:
    """Rename a datastore or change its description."""
    view = service.update_datastore(session, actor=user, datastore_id=datastore_id, data=data)
    return _read(view)


@datastores.delete(
    "/{datastore_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(Conflict, Forbidden, NotFound),
)
def delete_datastore(session: SessionDep, user: Writer, datastore_id: uuid.UUID) -> None:
    """Delete a datastore that holds no volumes."""
    service.delete_datastore(session, actor=user, datastore_id=datastore_id)


@volumes.get("", responses=error_responses(ValidationFailed))
def list_volumes(
    session: SessionDep,
    _user: CurrentUser,
    params: ListDep,
    datastore_id: uuid.UUID | None = None,
    state: ObjectState | None = None,
    name: TextFilter = None,
) -> Page[VolumeRead]:
    """List volumes, filtered by datastore, state or name."""
    filters = {"datastore_id": datastore_id, "state": state, "name": name}
    items, total = service.list_volumes(session, params=params, filters=filters)
    return Page(items=[VolumeRead.model_validate(v) for v in items], total=total)


@volumes.get("/{volume_id}", responses=error_responses(NotFound))
def get_volume(session: SessionDep, _user: CurrentUser, volume_id: uuid.UUID) -> VolumeRead:
    """One volume."""
    return VolumeRead.model_validate(service.get_volume(session, volume_id=volume_id))


router = APIRouter()
router.include_router(datastores)
router.include_router(volumes)
