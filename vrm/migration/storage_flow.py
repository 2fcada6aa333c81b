"""The ``vm.move-storage`` flow: a VM's disks move to another datastore, the VM stays on
its host.

Running, each disk is copied by a block copy on the node while the guest runs on it,
then the guest is switched onto the copy (one disk after the other; which are switched
is kept on the task, so a resumed task goes on from there). Stopped, the node copies
the volumes and the domain is defined on the copies. Then the old volumes go.

A failed or cancelled move leaves every disk that was not switched on its old volume
and removes those copies; a disk already switched keeps its copy (it is the one the
guest uses), and its old volume goes.
"""

from __future__ import annotations

import time
import uuid
from functools import partial

from cna_agent.protocol import Operation, OperationState
from cna_agent.protocol.migration import DiskCopy
from vrm.agents.client import AgentFailed
from vrm.events.emit import emit
from vrm.migration.copies import DiskCopies
from vrm.migration.volumes import Move
from vrm.models import Datastore, Volume
from vrm.tasks.flow import TaskFailure
from vrm.tasks.types import TaskType
from vrm.vms.spec import domain_spec, pool_of

# A copy is followed at this pace (local calls on the node).
POLL_S = 0.2
# How long compensation waits for an abandoned copy to end.
SETTLE_S = 60.0
# Where the task keeps the disks already switched, and the node's copy operations.
SWITCHED = "switched"
COPY_OPS = "copy_operations"


class MoveStorageFlow(DiskCopies):
    """Move a VM's disks to another datastore of its host."""

    type = TaskType.VM_MOVE_STORAGE
    steps = ("prepare", "copy", "tidy")
    cancellable = True

    def prepare(self) -> None:
        """Empty volumes for the block copies (running), or full copies (stopped)."""
        if self.live:
            self._make_empty_copies()
        else:
            self._copy_volumes()

    def copy(self) -> None:
        """Running: copy and switch each disk in turn. Stopped: define it on the copies."""
        if not self.live:
            self.agent.define(domain_spec(self.ctx.session, self.vm, volumes=self._copies()))
            return
        for move in self.moves:
            if move.device not in self._switched():
                self._copy_one(move)

    def tidy(self) -> None:
        """The disks on their copies (the domain defined so), the old volumes removed."""
        self._adopt_copies(redefine=self.live)

    def finish(self) -> None:
        vm = self.vm
        self.end(self.previous_state())
        store = self.ctx.session.get(Datastore, uuid.UUID(str(self.ctx.params["datastore_id"])))
        emit(
            self.ctx.session,
            type="vm_storage_moved",
            target_type="vm",
            target_id=vm.id,
            task_id=self.ctx.task.id,
            message=f"the disks of VM {vm.name} moved to datastore "
            f"{store.name if store else self.ctx.params['datastore_id']} "
            f"({'live' if self.live else 'cold'})",
        )

    def compensate(self, failure: TaskFailure) -> None:
        """Disks already switched keep their copies; the others stay where they were."""
        if self.live:
            self._abandon_copies()
        switched = self._switched()
        done = [m for m in self.moves if m.device in switched]
        if done:
            self._adopt_copies(done, redefine=True)
        elif not self.live:
            self._quietly(self.redefine)  # the stopped domain back on its old volumes
        self._drop_copies([m for m in self.moves if m.device not in switched])
        self.end(self.previous_state())

    def release(self) -> None:
        self._forget_copies()
        super().release()

    # -- helpers ------------------------------------------------------------------------

    def _copy_one(self, move: Move) -> None:
        session, agent = self.ctx.session, self.agent
        copy = session.get(Volume, move.new)
        assert copy is not None
        request = DiskCopy(
            pool=pool_of(session, self.source_id, copy),
            volume=copy.name,
            format=copy.format.value,
            bandwidth_mib_s=self.ctx.params.get("policy", {}).get("bandwidth_mib_s"),
            timeout_s=float(self.ctx.params.get("policy", {}).get("completion_timeout_s", 3600)),
        )
        op = self._earlier_copy(move)
        if op is None:
            op = agent.copy_disk(self.vm.uuid, move.device, request)
            ops = {**self.ctx.task.result.get(COPY_OPS, {}), move.device: str(op.id)}
            self._remember(COPY_OPS, ops)
            session.commit()  # a resumed task finds this copy again
        aborting = False
        while op.state == OperationState.RUNNING:
            self._show(op, move)
            if not aborting and self._cancel_requested():
                agent.abort_disk_copy(self.vm.uuid, move.device)
                aborting = True
            time.sleep(POLL_S)
            op = agent.operation(op.id)
        if op.state == OperationState.FAILED and op.error is not None:
            raise AgentFailed(op.error.message, code=op.error.code, status=None, retryable=False)
        self._remember(SWITCHED, sorted({*self._switched(), move.device}))
        session.commit()

    def _earlier_copy(self, move: Move) -> Operation | None:
        """The copy of this disk a resumed task started before, if the node still knows
        it and it did not fail (one that succeeded has switched the disk already)."""
        started = self.ctx.task.result.get(COPY_OPS, {}).get(move.device)
        if not started:
            return None
        op = self.agent.known_operation(uuid.UUID(str(started)))
        return None if op is None or op.state == OperationState.FAILED else op

    def _show(self, op: Operation, move: Move) -> None:
        """The task's progress: the disks before this one, and this one's share."""
        moves = self.moves
        index = [m.device for m in moves].index(move.device)
        share = (index * 100 + op.progress) // len(moves)
        task = self.ctx.task
        task.progress = max(task.progress, 5 + share * 90 // 100)

    def _abandon_copies(self) -> None:
        """Stop the node's copies still running and wait for them to end."""
        agent = self.agent
        for move in self.moves:
            if move.device not in self._switched():
                self._quietly(partial(agent.abort_disk_copy, self.vm.uuid, move.device))
        deadline = time.monotonic() + SETTLE_S
        for op_id in self.ctx.task.result.get(COPY_OPS, {}).values():
            while time.monotonic() < deadline:
                op = agent.known_operation(uuid.UUID(str(op_id)))
                if op is None or op.state != OperationState.RUNNING:
                    break
                time.sleep(POLL_S)
        # A copy that ended by switching the disk (cancel came too late) counts as done.
        for device, op_id in self.ctx.task.result.get(COPY_OPS, {}).items():
            op = agent.known_operation(uuid.UUID(str(op_id)))
            if op is not None and op.state == OperationState.SUCCEEDED:
                self._remember(SWITCHED, sorted({*self._switched(), device}))

    def _switched(self) -> set[str]:
        return set(self.ctx.task.result.get(SWITCHED, []))
