"""What every VM flow shares: its VM, its host's agent, and putting the state back."""

from __future__ import annotations

from vrm.agents.client import AgentClient
from vrm.errors import NotFound
from vrm.models import Vm
from vrm.models.enums import VmState
from vrm.tasks.flow import Flow, TaskFailure
from vrm.vms.repository import VmRepository
from vrm.vms.spec import domain_spec


class VmFlow(Flow):
    """A flow whose task targets a VM."""

    @property
    def vm(self) -> Vm:
        """The VM, with disks and NICs."""
        assert self.ctx.task.target_id is not None
        vm = VmRepository(self.ctx.session).full(self.ctx.task.target_id)
        if vm is None:
            raise NotFound.of("vm", self.ctx.task.target_id)
        return vm

    @property
    def agent(self) -> AgentClient:
        """The agent of the VM's host."""
        host_id = self.vm.host_id
        if host_id is None:
            raise TaskFailure("the VM is not placed on a host", code="vm_not_placed")
        return self.ctx.agent(host_id)

    def redefine(self) -> None:
        """Define the domain again from VRM's record (persistent config and cloud-init
        seed; a running domain's live devices are left as they are)."""
        self.agent.define(domain_spec(self.ctx.session, self.vm))

    def end(self, state: VmState) -> None:
        """The operation is over: the VM is in ``state`` and free for the next one."""
        VmRepository(self.ctx.session).set_state(self.vm, state)

    def previous_state(self) -> VmState:
        """The state the VM had before the operation."""
        return VmState(self.ctx.params.get("previous_state", VmState.UNKNOWN.value))

    def compensate(self, failure: TaskFailure) -> None:
        """By default a failed operation leaves the VM as it was before."""
        self.end(self.previous_state())

    def release(self) -> None:
        """A cancelled operation leaves the VM as it was before."""
        self.end(self.previous_state())
