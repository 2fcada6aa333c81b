"""Resizing: hot-add vCPUs and memory while running (within the maxima), anything when stopped."""

from __future__ import annotations

from vrm.models.enums import VmState
from vrm.tasks.flow import register
from vrm.vms.flows.base import VmFlow
from vrm.vms.spec import domain_spec

FIELDS = ("vcpus", "memory_mib", "max_vcpus", "max_memory_mib")


@register
class ResizeFlow(VmFlow):
    """Apply new vCPU and memory figures on the node, then record them."""

    type = "vm.resize"
    steps = ("apply",)

    def apply(self) -> None:
        """Live changes through the agent when running; a new definition when stopped."""
        vm, wanted = self.vm, self._wanted()
        if self.previous_state() == VmState.RUNNING:
            if wanted["vcpus"] != vm.vcpus:
                self.agent.set_vcpus(vm.uuid, wanted["vcpus"])
            if wanted["memory_mib"] != vm.memory_mib:
                self.agent.set_memory(vm.uuid, wanted["memory_mib"])
            self._record(wanted)
        else:
            self._record(wanted)
            self.agent.define(domain_spec(self.ctx.session, vm))

    def finish(self) -> None:
        self.end(self.previous_state())

    def _wanted(self) -> dict[str, int]:
        vm = self.vm
        current = {f: int(getattr(vm, f)) for f in FIELDS}
        return {f: int(self.ctx.params.get(f) or current[f]) for f in FIELDS}

    def _record(self, wanted: dict[str, int]) -> None:
        vm = self.vm
        for field, value in wanted.items():
            setattr(vm, field, value)
