"""Image tasks: a node imports an image (URL, path, template disk), an image is deleted,
and an upload whose VRM died is cleaned up."""

from __future__ import annotations

import logging
import time
import uuid

from cna_agent.protocol import Operation, OperationState
from cna_agent.protocol.images import ImageFormat, ImageImport, ImageReport, VolumeRef
from vrm.agents.client import AgentCallError, AgentClient, AgentFailed
from vrm.errors import VrmError
from vrm.images import service
from vrm.images.service import apply_report, mark_failed
from vrm.images.upload import UPLOAD
from vrm.models import Image, Vm, Volume
from vrm.models.enums import ImageSource, ImageState
from vrm.tasks.flow import Flow, TaskFailure
from vrm.vms.repository import VmRepository
from vrm.vms.spec import pool_of
from vrm.vms.states import Operation as VmOperation

log = logging.getLogger(__name__)

POLL_S = 1.0
# A node copies at least this fast, or the import is given up (and retried).
MIN_BYTES_PER_S = 2 * 1024 * 1024
BASE_WAIT_S = 600.0
# Where an import task keeps the id of the node's operation (to find it after a restart).
OPERATION = "operation_id"


class ImageFlow(Flow):
    """A flow whose task targets an image."""

    @property
    def image(self) -> Image:
        """The task's image."""
        assert self.ctx.task.target_id is not None
        image = self.ctx.session.get(Image, self.ctx.task.target_id)
        if image is None:
            raise TaskFailure("the image is gone", code="image_not_found")
        return image

    @property
    def host_id(self) -> uuid.UUID:
        """The node doing the work."""
        return uuid.UUID(str(self.ctx.params["host_id"]))

    @property
    def agent(self) -> AgentClient:
        """The agent of the node doing the work."""
        return self.ctx.agent(self.host_id)

    def pool(self) -> str:
        """The node's pool name for the image's datastore."""
        return service.pick_worker(self.ctx.session, self.image.datastore_id, self.host_id).pool

    def drop_file(self) -> None:
        """Remove the image's file from the node (best effort: it may never have existed)."""
        image = self.image
        try:
            self.agent.delete_volume(self.pool(), image.volume_name)
        except (AgentCallError, TaskFailure, VrmError) as exc:
            # VrmError: no normal host reaches the datastore now.
            log.warning("could not remove the file of image %s: %s", image.name, exc)

    def compensate(self, failure: TaskFailure) -> None:
        """The image is unusable and says why; no file of it stays behind."""
        self.drop_file()
        mark_failed(self.image, failure.code, failure.message)
        self.free_template()

    def release(self) -> None:
        """A cancelled import never started."""
        mark_failed(self.image, "cancelled", "the import was cancelled before it started")
        self.free_template()

    def finish(self) -> None:
        self.free_template()

    def free_template(self) -> None:
        """End the claim on the template whose disk was exported, if this is an export."""
        vm_id = self.ctx.params.get("vm_id")
        vm = self.ctx.session.get(Vm, uuid.UUID(str(vm_id))) if vm_id else None
        if vm is not None and vm.task_state == VmOperation.EXPORT_IMAGE.value:
            VmRepository(self.ctx.session).set_state(vm, vm.state)


class ImportFlow(ImageFlow):
    """A node fetches an image (URL, path) or copies a template's disk into one."""

    type = service.IMPORT
    steps = ("fetch",)

    def fetch(self) -> None:
        """Start the node's import (or find the one already started, after a VRM restart)
        and follow it to the end, showing its progress."""
        agent = self.agent
        op = self._resumed(agent) or self._start(agent)
        max_bytes = self.ctx.settings.image_max_mib * service.MIB
        deadline = time.monotonic() + BASE_WAIT_S + max_bytes / MIN_BYTES_PER_S
        while op.state == OperationState.RUNNING:
            if time.monotonic() > deadline:
                raise TaskFailure("the node's import took too long", code="import_timeout")
            self.image.progress = self.ctx.task.progress = min(op.progress, 99)
            time.sleep(POLL_S)
            op = agent.operation(op.id)  # commits the progress first
        if op.state == OperationState.FAILED and op.error is not None:
            retryable = bool(op.error.details.get("retryable", False))
            raise AgentFailed(
                op.error.message, code=op.error.code, status=None, retryable=retryable
            )
        apply_report(self.image, ImageReport.model_validate(op.result))

    def _start(self, agent: AgentClient) -> Operation:
        """Ask the node to import; remember its operation (committed with the next call)."""
        image = self.image
        op = agent.import_image(self.pool(), image.volume_name, self._spec(image))
        self.ctx.task.result = {**self.ctx.task.result, OPERATION: str(op.id)}
        return op

    def _resumed(self, agent: AgentClient) -> Operation | None:
        """The node's operation this task started before, if the node still runs or knows
        it; None when there is none (or the agent restarted and forgot it: start again)."""
        started = self.ctx.task.result.get(OPERATION)
        return agent.known_operation(uuid.UUID(str(started))) if started else None

    def _spec(self, image: Image) -> ImageImport:
        max_bytes = self.ctx.settings.image_max_mib * service.MIB
        fmt = ImageFormat(image.format.value)
        sha = image.expected_sha256
        if image.source is ImageSource.URL:
            return ImageImport(format=fmt, url=image.source_ref, sha256=sha, max_bytes=max_bytes)
        if image.source is ImageSource.PATH:
            return ImageImport(format=fmt, path=image.source_ref, sha256=sha, max_bytes=max_bytes)
        volume = self.ctx.session.get(Volume, uuid.UUID(str(self.ctx.params["volume_id"])))
        if volume is None:
            raise TaskFailure("the template's disk is gone", code="volume_not_found")
        ref = VolumeRef(pool=pool_of(self.ctx.session, self.host_id, volume), volume=volume.name)
        return ImageImport(format=fmt, volume=ref, max_bytes=max_bytes)


class UploadFlow(ImageFlow):
    """An upload runs in its request; a worker runs this only when that VRM died."""

    type = UPLOAD
    steps = ("receive",)

    def receive(self) -> None:
        """The request that carried the data is gone: the upload cannot go on."""
        raise TaskFailure(
            "the upload was interrupted: the VRM process receiving it stopped; upload again",
            code="upload_interrupted",
        )


class DeleteFlow(ImageFlow):
    """Remove an image's file from its datastore, then its record."""

    type = service.DELETE
    steps = ("remove",)

    def remove(self) -> None:
        """Delete the file on any normal node that reaches the datastore (a missing one is
        already gone)."""
        image = self.image
        if not service.hosts_ever_reaching(self.ctx.session, image.datastore_id):
            return  # no node ever had the datastore, so none has the file
        worker = service.pick_worker(self.ctx.session, image.datastore_id)
        self.ctx.agent(worker.host_id).delete_volume(worker.pool, image.volume_name)

    def finish(self) -> None:
        self.ctx.session.delete(self.image)

    def compensate(self, failure: TaskFailure) -> None:
        """The image stays as it was."""
        self.image.state = ImageState(self.ctx.params.get("previous_state", "failed"))

    def release(self) -> None:
        self.compensate(TaskFailure("cancelled", code="cancelled"))
