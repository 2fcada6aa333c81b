"""``/v1/pools/{pool}/images``: taking images into a pool, uploaded or imported.

An image becomes a volume of its pool: it is listed, read and deleted through
``/v1/pools/{pool}/volumes``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, status
from starlette.requests import ClientDisconnect

from cna_agent.api.deps import NodeDep
from cna_agent.errors import Interrupted, InvalidSpec
from cna_agent.images.intake import ImageRequest, Intake
from cna_agent.operations import Progress
from cna_agent.protocol import OBJECT_NAME, ErrorBody, Operation
from cna_agent.protocol.images import (
    UPLOAD_FORMAT,
    UPLOAD_MAX_BYTES,
    UPLOAD_SHA256,
    ImageFormat,
    ImageImport,
    ImageReport,
    Sha256,
)

router = APIRouter(prefix="/pools", tags=["images"])

ImageName = Annotated[str, Path(pattern=OBJECT_NAME)]

_UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    }
}
_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody} for code in (400, 404, 409, 422)
}


@router.put("/{pool}/images/{name}/data", openapi_extra=_UPLOAD_BODY, responses=_ERRORS)
async def upload_image(
    request: Request,
    node: NodeDep,
    pool: str,
    name: ImageName,
    fmt: Annotated[ImageFormat, Query(alias=UPLOAD_FORMAT)],
    max_bytes: Annotated[int, Query(alias=UPLOAD_MAX_BYTES, ge=1)],
    sha256: Annotated[Sha256 | None, Query(alias=UPLOAD_SHA256)] = None,
) -> ImageReport:
    """Take the request's body, streamed, as an image (validated before it gets its name)."""
    image = ImageRequest(pool=pool, name=name, format=fmt, max_bytes=max_bytes, sha256=sha256)
    size = _content_length(request)
    try:
        return await Intake(node.storage).upload(image, request.stream(), size=size)
    except ClientDisconnect as exc:
        raise Interrupted("the client went away during the upload") from exc


@router.post(
    "/{pool}/images/{name}/import", status_code=status.HTTP_202_ACCEPTED, responses=_ERRORS
)
def import_image(node: NodeDep, pool: str, name: ImageName, spec: ImageImport) -> Operation:
    """Fetch, copy or convert an image into the pool; a long operation with progress."""
    node.storage.pool(pool)  # an unknown pool is a 404 now rather than a failed operation
    image = ImageRequest(
        pool=pool, name=name, format=spec.format, max_bytes=spec.max_bytes, sha256=spec.sha256
    )
    intake = Intake(node.storage)

    def work(progress: Progress) -> dict[str, object]:
        return intake.take(image, spec, progress).model_dump(mode="json")

    return node.operations.submit_tracked("import_image", f"{pool}/{name}", work)


def _content_length(request: Request) -> int | None:
    """The announced length of the body, if any (then enforced)."""
    value = request.headers.get("content-length")
    if value is None:
        return None
    if not value.isdigit():
        raise InvalidSpec("Content-Length is not a number", code="invalid_content_length")
    return int(value)
