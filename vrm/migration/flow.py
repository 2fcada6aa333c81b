"""The ``vm.migrate`` flow: prepare the target, move, and switch VRM's record.

Live (the VM runs): the target plumbs the filtered NICs and writes the cloud-init seed,
then the source node runs a peer-to-peer libvirt migration (its progress shows on the
task); the VM's host changes in VRM only once the target says it runs the domain.

Cold (the VM is stopped): the domain is defined on the target, then removed from the
source (its volumes stay: the storage is shared).

With a datastore named, the disks move too (``vrm.migration.volumes``): live, libvirt
copies them into volumes the target made first; cold, a node reaching both datastores
copies them before the domain is defined on the target. Once the VM is there, its disks
are switched to the copies and the old volumes removed; a failed move removes the copies.

Whatever happens, the flow asks both nodes where the domain is before it acts, and
never guesses: a resumed task (VRM restarted mid-migration) follows the source's
operation if the node still has it, or finds the domain where it is. A failed or
cancelled migration leaves the VM on the source with nothing left on the target.
"""

from __future__ import annotations

import time
import uuid

from cna_agent.protocol import (
    DomainReport,
    DomainState,
    Operation,
    OperationState,
)
from cna_agent.protocol.migration import IncomingReady, MigrateRequest, MigrationPolicy
from vrm.agents.client import AgentClient, AgentFailed, AgentRejected
from vrm.events.emit import emit
from vrm.migration.copies import DiskCopies
from vrm.models import Host
from vrm.models.enums import Severity, VmState
from vrm.tasks.flow import TaskFailure
from vrm.tasks.types import TaskType
from vrm.vms.repository import VmRepository
from vrm.vms.spec import domain_spec

# A migration ends within a poll of the node's job; polls are cheap local GETs.
POLL_S = 0.1
# How long compensation waits for an aborted migration to hand the domain back.
SETTLE_S = 120.0
# Where the task keeps what it must find again after a VRM restart.
OPERATION = "operation_id"
INCOMING = "incoming"
# Task progress: preparing takes the first tenth, the move up to 95 %.
_PREPARED, _MOVED = 10, 95
_RUNNING = (DomainState.RUNNING, DomainState.BLOCKED, DomainState.PAUSED)


class MigrateFlow(DiskCopies):
    """Move a VM to another host, live or cold."""

    type = TaskType.VM_MIGRATE
    steps = ("prepare", "move", "switch", "tidy")
    cancellable = True

    # -- steps --------------------------------------------------------------------------

    def prepare(self) -> None:
        """Ready the target: NICs plumbed and seed written (live), or the domain defined
        (cold), with the target's own pool names."""
        copies = self._copies()
        spec = domain_spec(self.ctx.session, self.vm, host_id=self.target_id, volumes=copies)
        if self.live:
            self._make_empty_copies()
            ready = self._target().prepare_incoming(spec)
            self._remember(INCOMING, ready.model_dump(mode="json"))
        else:
            self._copy_volumes()
            self._target().define(spec)
        self.ctx.task.progress = _PREPARED

    def move(self) -> None:
        """Migrate (live) or let go of the source's definition (cold)."""
        if not self.live:
            self._source().undefine(self.vm.uuid, delete_volumes=False)
            return
        if self._arrived():
            return
        source = self._source()
        op = self._resumed(source) or self._start(source)
        aborting = False
        while op.state == OperationState.RUNNING:
            self._follow(op)
            if not aborting and self._cancel_requested():
                source.abort_migration(self.vm.uuid)
                aborting = True
            time.sleep(POLL_S)
            op = source.operation(op.id)  # commits the progress first
        self._follow(op)
        if op.state == OperationState.FAILED and op.error is not None:
            raise AgentFailed(op.error.message, code=op.error.code, status=None, retryable=False)

    def switch(self) -> None:
        """Make sure the target has the domain (running, when live)."""
        report = self._on(self._target())
        if report is None or (self.live and report.state not in _RUNNING):
            state = report.state.value if report else "absent"
            raise TaskFailure(
                f"the target does not run VM {self.vm.name} after the move (it is {state})",
                code="migration_not_on_target",
            )
        if self.live:
            # The target forgets what it prepared (the domain keeps it: it arrived).
            self._quietly(lambda: self._target().cancel_incoming(self.vm.uuid))
            # The source removed its plumbing and seed when the send ended; if its agent
            # restarted meanwhile, it never saw the end: told again (idempotent).
            filtered = [nic.mac for nic in self.vm.nics if nic.ips]
            self._quietly(lambda: self._source().unplumb(self.vm.uuid, filtered))

    def tidy(self) -> None:
        """The VM is on the target: its disks go on their copies, the old volumes go."""
        self._adopt_copies()

    def finish(self) -> None:
        """Record the move, in the transaction that ends the task."""
        vm = self.vm
        vm.host_id, vm.migration_target_host_id = self.target_id, None
        VmRepository(self.ctx.session).set_state(vm, self.previous_state())
        source, target = (self.ctx.session.get(Host, h) for h in (self.source_id, self.target_id))
        emit(
            self.ctx.session,
            type="vm_migrated",
            target_type="vm",
            target_id=vm.id,
            task_id=self.ctx.task.id,
            message=f"VM {vm.name} moved from {source.name if source else self.source_id} "
            f"to {target.name if target else self.target_id} ({'live' if self.live else 'cold'})",
            details={"source_host_id": str(self.source_id), "target_host_id": str(self.target_id)},
        )

    # -- failure ------------------------------------------------------------------------

    def compensate(self, failure: TaskFailure) -> None:
        """Leave the VM where it really is: on the source, the target cleaned up; or, if
        the move did complete, on the target (asked, never guessed)."""
        if self.live:
            self._quietly(lambda: self._source().abort_migration(self.vm.uuid))
            self._wait_for_the_node()
        source, target = self._on(self._source()), self._on(self._target())
        vm = self.vm
        if source is None and target is not None:
            # It did arrive: the record follows the VM (and its disks, their copies).
            vm.host_id = self.target_id
            self._adopt_copies()
            self._event(
                Severity.MAJOR,
                f"VM {vm.name} is on the target although the migration failed "
                f"({failure.code}); VRM's record follows it",
            )
        elif source is not None and target is not None and not self._safe_to_clean(source):
            # Both nodes have it and the source's copy is not running: a person decides.
            self._event(
                Severity.CRITICAL,
                f"VM {vm.name} is on both hosts after a failed migration ({failure.code}); "
                "neither copy was touched",
            )
            source = target = None
            self._keep_copies("the VM is on both hosts")
        elif source is not None:
            self._clean_target(target)
            self._drop_copies()
        vm.migration_target_host_id = None
        VmRepository(self.ctx.session).set_state(vm, self._state_after(source, target))

    def release(self) -> None:
        """A migration cancelled before it ran: the target's claim (and the datastore's
        space the copies held) goes back."""
        self.vm.migration_target_host_id = None
        self._forget_copies()
        super().release()

    # -- helpers ------------------------------------------------------------------------

    def _start(self, source: AgentClient) -> Operation:
        policy = MigrationPolicy.model_validate(self.ctx.params.get("policy", {}))
        incoming = IncomingReady.model_validate(self.ctx.task.result.get(INCOMING, {}))
        target = self.ctx.session.get(Host, self.target_id)
        if target is None:
            raise TaskFailure("the target host was removed", code="host_not_found")
        settings = self.ctx.settings
        request = MigrateRequest(
            dest_uri=settings.migration_libvirt_uri.format(address=target.address),
            migrate_uri=settings.migration_uri.format(address=target.address),
            policy=policy,
            incoming=incoming,
            copy_disks=[m.device for m in self.moves],
        )
        op = source.migrate(self.vm.uuid, request)
        self._remember(OPERATION, str(op.id))
        # Kept at once: a VRM restarted from here follows this operation.
        self.ctx.session.commit()
        return op

    def _resumed(self, source: AgentClient) -> Operation | None:
        """The source's migration this task started before, if the node still knows it."""
        started = self.ctx.task.result.get(OPERATION)
        return source.known_operation(uuid.UUID(str(started))) if started else None

    def _wait_for_the_node(self) -> None:
        """Let the source's migration operation end (an abort takes a moment) before the
        nodes are asked where the domain is."""
        started = self.ctx.task.result.get(OPERATION)
        if not started:
            return
        deadline = time.monotonic() + SETTLE_S
        source = self._source()
        while time.monotonic() < deadline:
            op = source.known_operation(uuid.UUID(str(started)))
            if op is None or op.state != OperationState.RUNNING:
                return
            time.sleep(POLL_S)

    def _arrived(self) -> bool:
        """The domain already runs on the target and not on the source (a resumed task
        whose migration ended while VRM was away)."""
        target = self._on(self._target())
        if target is None or target.state not in _RUNNING:
            return False
        return self._on(self._source()) is None

    def _follow(self, op: Operation) -> None:
        """Show the node's progress and figures on the task."""
        task = self.ctx.task
        span = _MOVED - _PREPARED
        task.progress = max(task.progress, _PREPARED + op.progress * span // 100)
        if op.result:
            task.result = {**task.result, "migration": op.result}

    def _on(self, agent: AgentClient) -> DomainReport | None:
        """The domain on a node; None when absent. An unreachable node raises: the flow
        must not act on a guess."""
        return agent.domain_if_any(self.vm.uuid)

    def _safe_to_clean(self, source: DomainReport) -> bool:
        """The target's copy may go: the source's is the live one (or, cold, defined)."""
        return not self.live or source.state in (DomainState.RUNNING, DomainState.BLOCKED)

    def _event(self, severity: Severity, message: str) -> None:
        emit(
            self.ctx.session,
            type="vm_migration_outcome",
            severity=severity,
            target_type="vm",
            target_id=self.vm.id,
            task_id=self.ctx.task.id,
            message=message,
        )

    def _clean_target(self, target: DomainReport | None) -> None:
        """Remove what the migration left on the target (never the volumes)."""
        agent = self._target()
        if target is not None and self.live and target.state in _RUNNING:
            try:
                agent.action(self.vm.uuid, "destroy")
            except AgentRejected as exc:
                if exc.status != 404:  # gone meanwhile is what was wanted
                    raise
        if target is not None:
            agent.undefine(self.vm.uuid, delete_volumes=False)
        if self.live:
            self._quietly(lambda: agent.cancel_incoming(self.vm.uuid))

    def _state_after(self, source: DomainReport | None, target: DomainReport | None) -> VmState:
        where = source if source is not None else target
        if where is None:
            return VmState.UNKNOWN
        if where.state in (DomainState.RUNNING, DomainState.BLOCKED):
            return VmState.RUNNING
        if where.state == DomainState.PAUSED:
            return VmState.PAUSED
        return VmState.STOPPED if where.state == DomainState.SHUTOFF else self.previous_state()
