"""Changing the medium of a CD-ROM drive on the node."""

from __future__ import annotations

import uuid

from cna_agent.protocol import MediaChange
from vrm.models import Image
from vrm.tasks.flow import TaskFailure
from vrm.tasks.types import TaskType
from vrm.vms.flows.base import VmFlow
from vrm.vms.spec import pool_of


class ChangeMediaFlow(VmFlow):
    """Insert or eject, live when the VM runs (the definition follows in any case)."""

    type = TaskType.VM_CHANGE_MEDIA
    steps = ("change",)

    def change(self) -> None:
        """Tell the node what the drive holds now (idempotent)."""
        vm = self.vm
        assert vm.host_id is not None
        media = MediaChange()
        image_id = self.ctx.params.get("image_id")
        if image_id:
            image = self.ctx.session.get(Image, uuid.UUID(str(image_id)))
            if image is None:
                raise TaskFailure("the image was deleted", code="image_not_found")
            media = MediaChange(
                pool=pool_of(self.ctx.session, vm.host_id, image), volume=image.volume_name
            )
        self.agent.change_media(vm.uuid, str(self.ctx.params["device"]), media)

    def finish(self) -> None:
        self.end(self.previous_state())

    def compensate(self, failure: TaskFailure) -> None:
        """The drive holds what it held before."""
        self._restore()
        super().compensate(failure)

    def release(self) -> None:
        self._restore()
        super().release()

    def _restore(self) -> None:
        previous = self.ctx.params.get("previous_image_id")
        for drive in self.vm.cdroms:
            if drive.device == self.ctx.params.get("device"):
                drive.image_id = uuid.UUID(str(previous)) if previous else None
