"""``/api/v1/images``: the image library, and uploads of image data."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status

from cna_agent.protocol.images import Sha256
from vrm.deps import CurrentUser, SessionDep, SettingsDep, StreamingUser, Writer
from vrm.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    ServiceUnavailable,
    Unauthorized,
    ValidationFailed,
    error_responses,
)
from vrm.images import service, upload
from vrm.images.schemas import ImageAccepted, ImageCreate, ImageRead, ImageUpdate
from vrm.listing import ListDep, TextFilter
from vrm.models import Image, Task
from vrm.models.enums import ImageFormat, ImageSource, ImageState
from vrm.schemas import Page
from vrm.tasks.schemas import TaskRead

router = APIRouter(prefix="/images", tags=["images"])
# Authenticated by its own dependency: an upload must not hold a session while it runs.
streams = APIRouter(prefix="/images", tags=["images"])

_CHANGE_ERRORS = error_responses(Conflict, Forbidden, NotFound, ValidationFailed)


def _accepted(image: Image, task: Task | None) -> ImageAccepted:
    return ImageAccepted(
        image=ImageRead.model_validate(image),
        task=TaskRead.model_validate(task) if task is not None else None,
    )


@router.get("", responses=error_responses(ValidationFailed))
def list_images(
    session: SessionDep,
    _user: CurrentUser,
    params: ListDep,
    datastore_id: uuid.UUID | None = None,
    format: ImageFormat | None = None,
    state: ImageState | None = None,
    source: ImageSource | None = None,
    name: TextFilter = None,
    os_hint: TextFilter = None,
) -> Page[ImageRead]:
    """List images, filtered by datastore, format, state, source, name or OS hint."""
    filters = {
        "datastore_id": datastore_id,
        "format": format,
        "state": state,
        "source": source,
        "name": name,
        "os_hint": os_hint,
    }
    items, total = service.list_images(session, params=params, filters=filters)
    return Page(items=[ImageRead.model_validate(i) for i in items], total=total)


@router.post("", status_code=status.HTTP_201_CREATED, responses=_CHANGE_ERRORS)
def create_image(
    session: SessionDep, user: Writer, data: ImageCreate, response: Response
) -> ImageAccepted:
    """Record an image: 201 waiting for ``PUT /images/{id}/data``, or, with ``url`` or
    ``path``, 202 with the task of the node's import."""
    image, task = service.create_image(session, actor=user, data=data)
    if task is not None:
        response.status_code = status.HTTP_202_ACCEPTED
    return _accepted(image, task)


@router.get("/{image_id}", responses=error_responses(NotFound))
def get_image(session: SessionDep, _user: CurrentUser, image_id: uuid.UUID) -> ImageRead:
    """One image."""
    return ImageRead.model_validate(service.get_image(session, image_id=image_id))


@router.patch("/{image_id}", responses=_CHANGE_ERRORS)
def update_image(
    session: SessionDep, user: Writer, image_id: uuid.UUID, data: ImageUpdate
) -> ImageRead:
    """Rename an image or change its description or OS hint."""
    image = service.update_image(session, actor=user, image_id=image_id, data=data)
    return ImageRead.model_validate(image)


@router.delete("/{image_id}", status_code=status.HTTP_202_ACCEPTED, responses=_CHANGE_ERRORS)
def delete_image(session: SessionDep, user: Writer, image_id: uuid.UUID) -> ImageAccepted:
    """Delete an image and its file (409 ``image_in_use`` while a VM uses it)."""
    task = service.delete_image(session, actor=user, image_id=image_id)
    return _accepted(service.get_image(session, image_id=image_id), task)


@streams.put(
    "/{image_id}/data",
    responses=error_responses(
        BadRequest,
        Unauthorized,
        Conflict,
        Forbidden,
        NotFound,
        ValidationFailed,
        ServiceUnavailable,
    ),
)
async def upload_data(
    request: Request,
    settings: SettingsDep,
    user: StreamingUser,
    image_id: uuid.UUID,
    sha256: Annotated[Sha256 | None, Query(description="refused when the data differs")] = None,
) -> ImageRead:
    """Upload the image's data as the raw request body (``curl -T file``): relayed to a
    node as it arrives, validated there; the image once ready."""
    if not user.can("write"):
        raise Forbidden(
            f"role {user.role!r} may not upload images", details={"permission": "write"}
        )
    return await upload.receive(
        request, settings=settings, actor=user, image_id=image_id, sha256=sha256
    )
