"""Storage pages: datastores, volumes (paged, by datastore) and the image library."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from vrm.deps import SessionDep
from vrm.images import service as images
from vrm.listing import ListParams
from vrm.models.enums import DatastoreType, ImageFormat, ImageState, ObjectState
from vrm.storage import service
from vrm.storage.service import DatastoreView
from vrm.web.deps import PageUser
from vrm.web.render import page
from vrm.web.repository import InventoryRepository
from vrm.web.storage_repository import StoragePageRepository
from vrm.web.tables import TableSpec

router = APIRouter(include_in_schema=False)

# Datastores are few: one list, by name.
_ALL = ListParams(limit=1000, sort=("name",))
VOLUME_TABLE = TableSpec(
    sortable=("name", "state", "capacity_mib", "allocation_mib", "created_at"),
    default_sort="name",
    filters={"datastore_id": None, "state": frozenset(s.value for s in ObjectState)},
)
IMAGE_TABLE = TableSpec(
    sortable=("name", "format", "state", "size_bytes", "created_at"),
    default_sort="-created_at",
    filters={
        "datastore_id": None,
        "format": frozenset(f.value for f in ImageFormat),
        "state": frozenset(s.value for s in ImageState),
    },
)


@router.get("/storage", response_class=HTMLResponse)
def datastore_list(request: Request, session: SessionDep, user: PageUser) -> HTMLResponse:
    """Datastores with their capacity, allocation, state and hosts."""
    hosts = {row["id"]: row["name"] for row in InventoryRepository(session).hosts()}
    return page(
        request,
        "storage/datastores.html",
        user=user,
        section="storage",
        tab="datastores",
        datastores=_datastores(session),
        host_names=hosts,
        volume_counts=StoragePageRepository(session).volume_counts(),
        types=list(DatastoreType),
    )


@router.get("/storage/volumes", response_class=HTMLResponse)
def volume_list(request: Request, session: SessionDep, user: PageUser) -> HTMLResponse:
    """Volumes in a server-side table, filtered by datastore and state."""
    table = VOLUME_TABLE.read(request)
    datastores = _datastores(session)
    volumes, total = service.list_volumes(session, params=table.params, filters=table.where())
    return page(
        request,
        "storage/volumes.html",
        user=user,
        section="storage",
        tab="volumes",
        table=table,
        volumes=volumes,
        total=total,
        owners=StoragePageRepository(session).volume_owners(v.id for v in volumes),
        datastores=datastores,
        ds_names={view.datastore.id: view.datastore.name for view in datastores},
        states=list(ObjectState),
    )


@router.get("/storage/images", response_class=HTMLResponse)
def image_list(request: Request, session: SessionDep, user: PageUser) -> HTMLResponse:
    """The image library, with upload from the browser and import from a URL."""
    table = IMAGE_TABLE.read(request)
    datastores = _datastores(session)
    items, total = images.list_images(session, params=table.params, filters=table.where())
    return page(
        request,
        "storage/images.html",
        user=user,
        section="storage",
        tab="images",
        table=table,
        images=items,
        total=total,
        datastores=datastores,
        ds_names={view.datastore.id: view.datastore.name for view in datastores},
        formats=list(ImageFormat),
        states=list(ImageState),
    )


def _datastores(session: Session) -> list[DatastoreView]:
    items, _ = service.list_datastores(session, params=_ALL, filters={})
    return items
