"""``PUT /images/{id}/data``: an upload relayed chunk by chunk to a node that reaches the
image's datastore, never buffered whole in memory or on VRM's disk.

The upload is a task like any other (type ``image.upload``), run by the request itself:
its progress and heartbeat are written every ``PROGRESS_S``. If VRM dies mid-upload the
task's heartbeat goes stale, a worker takes it over and its flow fails it and removes
the partial file (``vrm.images.flows.UploadFlow``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

from fastapi import Request
from sqlalchemy.orm import Session
from starlette.requests import ClientDisconnect

from cna_agent.protocol.images import ImageFormat, ImageReport
from vrm.agents.client import AgentCallError
from vrm.agents.credentials import vrm_credential
from vrm.agents.streams import upload_image
from vrm.audit.service import record
from vrm.auth.principal import Principal
from vrm.config import Settings
from vrm.deps import in_session
from vrm.errors import BadRequest, Conflict, ServiceUnavailable, ValidationFailed, VrmError
from vrm.hosts.repository import HostRepository
from vrm.images import service
from vrm.images.repository import ImageRepository
from vrm.images.schemas import ImageRead
from vrm.models import Image, Task
from vrm.models.base import utcnow
from vrm.models.enums import ImageSource, ImageState, TaskState
from vrm.storage.repository import DatastoreRepository
from vrm.tasks.engine import mark_failed as mark_task_failed
from vrm.tasks.flow import TaskFailure
from vrm.tasks.service import queue_task
from vrm.tasks.types import TaskType

log = logging.getLogger(__name__)

UPLOAD = TaskType.IMAGE_UPLOAD
PROGRESS_S = 2.0
# What VRM holds of an upload at most: one block on its way to the node.
BLOCK = 4 * 1024 * 1024
_OWNER = f"upload:{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True, slots=True)
class Target:
    """Where an upload goes and what the node checks it against."""

    image_id: uuid.UUID
    task_id: uuid.UUID
    agent_url: str
    credential: str
    pool: str
    volume_name: str
    format: ImageFormat
    max_bytes: int
    sha256: str | None


@dataclass(slots=True)
class _Count:
    """Bytes relayed so far, of how many announced."""

    done: int = 0
    total: int | None = None


async def receive(
    request: Request,
    *,
    settings: Settings,
    actor: Principal,
    image_id: uuid.UUID,
    sha256: str | None,
) -> ImageRead:
    """Relay the request's body to a node as the image's data; the image once ready."""
    size = _content_length(request)

    def start(session: Session) -> Target:
        return begin(
            session, settings=settings, actor=actor, image_id=image_id, size=size, sha256=sha256
        )

    target = await in_session(request, start)
    count = _Count(total=size)
    ticker = asyncio.create_task(_report_progress(request, target, count))
    try:
        report = await upload_image(
            target.agent_url,
            target.credential,
            pool=target.pool,
            name=target.volume_name,
            format=target.format,
            max_bytes=target.max_bytes,
            body=_counted(request.stream(), count),
            size_bytes=size,
            sha256=target.sha256,
        )
    except ClientDisconnect as exc:
        await _fail(request, target, "upload_interrupted", "the client closed the upload early")
        raise BadRequest(
            "the upload was cut off before its end", code="upload_interrupted"
        ) from exc
    except AgentCallError as exc:
        await _fail(request, target, exc.code, exc.message)
        raise _public(exc) from exc
    except BaseException:
        # Cancelled (VRM shutting down) or a bug: the image must not stay "uploading".
        with contextlib.suppress(Exception):
            await asyncio.shield(_fail(request, target, "upload_interrupted", "VRM stopped"))
        raise
    finally:
        ticker.cancel()
    return await in_session(request, lambda session: finish(session, target, report))


def begin(
    session: Session,
    *,
    settings: Settings,
    actor: Principal,
    image_id: uuid.UUID,
    size: int | None,
    sha256: str | None,
) -> Target:
    """Check the upload (source, size, space), pick the node, and record its running task."""
    repo = ImageRepository(session)
    image = service.get_image(session, image_id=image_id)
    if image.source is not ImageSource.UPLOAD:
        raise Conflict(
            f"image {image.name!r} is imported from {image.source.value}, not uploaded",
            code="image_not_uploadable",
        )
    datastore = DatastoreRepository(session).get(image.datastore_id)
    assert datastore is not None, "images keep their datastore (RESTRICT)"
    service.check_size(settings, datastore, size)
    worker = service.pick_worker(session, image.datastore_id)
    task = queue_task(
        session,
        type=UPLOAD,
        target_type=service.KIND,
        target_id=image.id,
        user_id=actor.user_id,
        params={"host_id": str(worker.host_id), "size_bytes": size},
    )
    _run_here(task)
    if not repo.claim_upload(image.id, task.id):
        raise Conflict(
            f"image {image.name!r} is {image.state.value}; only an image waiting for its data "
            "(or whose upload failed) takes an upload",
            code="image_busy",
            details={"state": image.state.value},
        )
    expected = sha256 or image.expected_sha256
    image.expected_sha256 = expected
    host = HostRepository(session).get(worker.host_id)
    assert host is not None
    record(
        session,
        actor=actor,
        action="image.upload",
        target_type=service.KIND,
        target_id=image.id,
        details={"task_id": str(task.id), "host_id": str(host.id), "size_bytes": size},
    )
    return Target(
        image_id=image.id,
        task_id=task.id,
        agent_url=host.agent_url,
        credential=vrm_credential(settings.secret_key, host.id),
        pool=worker.pool,
        volume_name=image.volume_name,
        format=ImageFormat(image.format.value),
        max_bytes=settings.image_max_mib * service.MIB,
        sha256=expected,
    )


def note_progress(session: Session, target: Target, done: int, total: int | None) -> None:
    """Show how far the upload is, on the image and its task, and keep the task alive."""
    image, task = _pair(session, target)
    percent = min(99, done * 100 // total) if total else 0
    if image is not None and image.state is ImageState.UPLOADING:
        image.progress = percent
    if task is not None and task.state is TaskState.RUNNING:
        task.progress, task.heartbeat_at = percent, utcnow()
        task.result = {"bytes_received": done}


def finish(session: Session, target: Target, report: ImageReport) -> ImageRead:
    """The node took the image in: it is ready, with its size and checksum."""
    image, task = _pair(session, target)
    assert image is not None
    service.apply_report(image, report)
    if task is not None:
        task.state, task.progress, task.step = TaskState.SUCCEEDED, 100, "done"
        task.finished_at = utcnow()
        task.result = {"size_bytes": report.size_bytes, "sha256": report.sha256}
    return ImageRead.model_validate(image)


def fail(session: Session, target: Target, code: str, message: str) -> None:
    """The upload did not end well: the image and its task say why."""
    image, task = _pair(session, target)
    if image is not None:
        service.mark_failed(image, code, message)
    if task is not None and task.state is TaskState.RUNNING:
        mark_task_failed(session, task, TaskFailure(message, code=code))


def _run_here(task: Task) -> None:
    """The task runs in this request, not in a worker: it is running and alive now."""
    now = utcnow()
    task.state, task.claimed_by, task.step = TaskState.RUNNING, _OWNER, "receive"
    task.heartbeat_at = task.started_at = now


def _pair(session: Session, target: Target) -> tuple[Image | None, Task | None]:
    return session.get(Image, target.image_id), session.get(Task, target.task_id)


async def _fail(request: Request, target: Target, code: str, message: str) -> None:
    log.info("upload of image %s failed: %s (%s)", target.image_id, message, code)
    await in_session(request, lambda session: fail(session, target, code, message))


async def _report_progress(request: Request, target: Target, count: _Count) -> None:
    while True:
        await asyncio.sleep(PROGRESS_S)
        try:
            await in_session(request, functools.partial(_progress_now, target, count))
        except VrmError as exc:  # busy database: the next tick tries again
            log.debug("upload progress not written: %s", exc.message)


def _progress_now(target: Target, count: _Count, session: Session) -> None:
    note_progress(session, target, count.done, count.total)


async def _counted(chunks: AsyncIterator[bytes], count: _Count) -> AsyncIterator[bytes]:
    """The body in blocks of about ``BLOCK`` bytes (the server hands it over in small
    pieces; fewer, larger writes to the node cost less), counted as they go."""
    block = bytearray()
    async for chunk in chunks:
        count.done += len(chunk)
        block += chunk
        if len(block) >= BLOCK:
            yield bytes(block)
            block.clear()
    if block:
        yield bytes(block)


def _content_length(request: Request) -> int | None:
    raw = request.headers.get("content-length")
    if raw is None:
        return None
    if not raw.isdigit():
        raise BadRequest("Content-Length must be a number of bytes", code="bad_content_length")
    return int(raw)


def _public(exc: AgentCallError) -> VrmError:
    """The client's error for the node's refusal (same code and message)."""
    if exc.status is None or exc.status >= 500:
        return ServiceUnavailable(exc.message, code=exc.code)
    if exc.status in (404, 409):  # 404: the node lacks the pool, not the client's fault
        return Conflict(exc.message, code=exc.code)
    if exc.status == 400:
        return BadRequest(exc.message, code=exc.code)
    return ValidationFailed(exc.message, code=exc.code)
