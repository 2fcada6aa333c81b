"""Resizing: hot-add vCPUs and memory while running (within the maxima), anything when stopped.

The request already wrote the new figures on the VM row (claiming them on the host, see
``vrm.vms.service.resize``); the task makes the node match, and puts the previous
figures back when it fails.
"""

from __future__ import annotations

from vrm.models.enums import VmState
from vrm.tasks.flow import TaskFailure
from vrm.tasks.types import TaskType
from vrm.vms.checks import RESIZED
from vrm.vms.flows.base import VmFlow


class ResizeFlow(VmFlow):
    """Apply the VM's new vCPU and memory figures on the node."""

    type = TaskType.VM_RESIZE
    steps = ("apply",)

    def apply(self) -> None:
        """Live changes through the agent when running; a new definition when stopped."""
        vm, previous = self.vm, self._previous()
        if self.previous_state() == VmState.RUNNING:
            if vm.vcpus != previous["vcpus"]:
                self.agent.set_vcpus(vm.uuid, vm.vcpus)
            if vm.memory_mib != previous["memory_mib"]:
                self.agent.set_memory(vm.uuid, vm.memory_mib)
        else:
            self.redefine()

    def finish(self) -> None:
        self.end(self.previous_state())

    def compensate(self, failure: TaskFailure) -> None:
        """The VM keeps the size it had (and gives the claimed growth back to its host)."""
        self._restore()
        super().compensate(failure)

    def release(self) -> None:
        """A cancelled resize never touched the node: the previous figures come back."""
        self._restore()
        super().release()

    def _restore(self) -> None:
        vm = self.vm
        for field, value in self._previous().items():
            setattr(vm, field, value)

    def _previous(self) -> dict[str, int]:
        vm = self.vm
        stored = self.ctx.params.get("previous") or {}
        return {field: int(stored.get(field, getattr(vm, field))) for field in RESIZED}
