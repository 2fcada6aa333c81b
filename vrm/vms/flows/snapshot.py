"""Snapshots: create, revert to, delete (the node keeps them inside the qcow2 volumes)."""

from __future__ import annotations

from cna_agent.protocol import SnapshotSpec
from vrm.models import VmSnapshot
from vrm.models.enums import VmState
from vrm.tasks.flow import TaskFailure
from vrm.tasks.types import TaskType
from vrm.vms.flows.base import VmFlow
from vrm.vms.repository import VmRepository


class SnapshotFlow(VmFlow):
    """One snapshot action, recorded in VRM when it succeeded on the node."""

    type = TaskType.VM_SNAPSHOT
    steps = ("apply",)

    def apply(self) -> None:
        """Do the action on the node and mirror it in VRM's records."""
        action, name = self.ctx.params["action"], self.ctx.params["name"]
        vm, session = self.vm, self.ctx.session
        known = VmRepository(session).snapshot(vm.id, name)
        if action == "create":
            spec = SnapshotSpec(name=name, description=self.ctx.params.get("description", ""))
            self.agent.snapshot(vm.uuid, spec)
            if known is None:
                session.add(VmSnapshot(vm_id=vm.id, name=name, description=spec.description))
        elif known is None:
            raise TaskFailure(f"VM {vm.name} has no snapshot {name!r}", code="snapshot_not_found")
        elif action == "revert":
            report = self.agent.revert_snapshot(vm.uuid, name)
            # Remembered for finish(), which runs in a later transaction.
            self.ctx.task.params = {**self.ctx.params, "reverted_to": report.state.value}
        else:
            self.agent.delete_snapshot(vm.uuid, name)
            session.delete(known)

    def finish(self) -> None:
        reverted = self.ctx.params.get("reverted_to")
        if reverted is None:
            self.end(self.previous_state())
            return
        # A revert restores the snapshot's power state too.
        running = reverted in ("running", "blocked")
        paused = reverted in ("paused", "pmsuspended")
        self.end(VmState.RUNNING if running else VmState.PAUSED if paused else VmState.STOPPED)
