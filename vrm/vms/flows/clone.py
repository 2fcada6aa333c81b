"""Clones (linked over the source's volumes, or full copies) and templates."""

from __future__ import annotations

import uuid

from cna_agent.protocol import VolumeSpec
from vrm.models import Vm, Volume
from vrm.models.enums import ObjectState, VmState
from vrm.tasks.flow import TaskFailure
from vrm.tasks.types import TaskType
from vrm.vms.flows.base import VmFlow
from vrm.vms.flows.create import CreateFlow
from vrm.vms.repository import VmRepository
from vrm.vms.spec import pool_of

# A full copy of a big volume may take long.
FULL_COPY_TIMEOUT_S = 6 * 3600


class CloneFlow(CreateFlow):
    """Create the copy like a new VM, its volumes made from the source's."""

    type = TaskType.VM_CLONE

    def volumes(self) -> None:
        """Linked: qcow2 volumes backed by the source's; full: copies of them."""
        vm, session = self.vm, self.ctx.session
        assert vm.host_id is not None
        for volume in self._new_volumes():
            source = self._source_volume(volume)
            pool = pool_of(session, vm.host_id, source)
            if self.ctx.params.get("mode") == "full":
                agent = self.agent
                agent.wait(
                    agent.clone_volume(pool, source.name, volume.name),
                    timeout_s=FULL_COPY_TIMEOUT_S,
                )
            else:
                spec = VolumeSpec(
                    name=volume.name, capacity_mib=volume.capacity_mib, backing_volume=source.name
                )
                self.agent.create_volume(pool, spec)
            volume.state = ObjectState.IN_USE

    def finish(self) -> None:
        super().finish()
        self._release_source()

    def compensate(self, failure: TaskFailure) -> None:
        self._release_source()
        super().compensate(failure)

    def release(self) -> None:
        self._release_source()
        super().release()

    def _source_volume(self, volume: Volume) -> Volume:
        """The source volume a clone's volume is made from (same device on the source)."""
        source_vm = self._source()
        device = next(d.device for d in self.vm.disks if d.volume_id == volume.id)
        for disk in source_vm.disks if source_vm else []:
            if disk.device == device:
                found = self.ctx.session.get(Volume, disk.volume_id)
                if found is not None:
                    return found
        raise TaskFailure("the source VM's volume is gone", code="volume_not_found")

    def _source(self) -> Vm | None:
        return VmRepository(self.ctx.session).full(uuid.UUID(self.ctx.params["source_vm_id"]))

    def _release_source(self) -> None:
        """The source VM is free again, in the state it had."""
        source = self._source()
        if source is not None and source.task_state == "clone":
            VmRepository(self.ctx.session).set_state(
                source, VmState(self.ctx.params.get("source_state", VmState.STOPPED.value))
            )


class ConvertToTemplateFlow(VmFlow):
    """Mark a stopped VM as a template."""

    type = TaskType.VM_CONVERT_TO_TEMPLATE
    steps = ("mark",)

    def mark(self) -> None:
        """From now on it can only be cloned or deleted."""
        self.vm.is_template = True

    def finish(self) -> None:
        self.end(VmState.STOPPED)
