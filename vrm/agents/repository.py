"""SQL for enrollment tokens and for the host rows agents keep up to date."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Row, delete, select, update
from sqlalchemy.orm import Session

from vrm.hosts.states import WATCHED, Transition, rule
from vrm.models import EnrollmentToken, Host, HostReconciliation, Vm, VrmProcess
from vrm.models.enums import HostState, VmState
from vrm.repository import Repository, changed_one


class EnrollmentTokenRepository(Repository[EnrollmentToken]):
    """One-time enrollment tokens."""

    model = EnrollmentToken
    sortable = ("created_at", "expires_at")
    default_sort = ("-created_at",)

    def consume(self, token_hash: str, now: datetime) -> bool:
        """Mark an unused, unexpired token used; False when another request got there first."""
        stmt = (
            update(EnrollmentToken)
            .where(EnrollmentToken.token_hash == token_hash)
            .where(EnrollmentToken.used_at.is_(None), EnrollmentToken.expires_at > now)
            .values(used_at=now)
        )
        return changed_one(self.session.execute(stmt))


class HostStateRepository(Repository[Host]):
    """Host state changes, each a compare-and-swap so concurrent writers cannot undo each other."""

    model = Host

    def apply(self, host_id: uuid.UUID, transition: Transition) -> bool:
        """Take ``transition`` if the host is in one of its allowed states; whether it did."""
        allowed = rule(transition)
        stmt = (
            update(Host)
            .where(Host.id == host_id, Host.state.in_(allowed.allowed))
            .values(state=allowed.to)
            .execution_options(synchronize_session="fetch")
        )
        return changed_one(self.session.execute(stmt))

    def silent_since(self, cutoff: datetime) -> Sequence[Host]:
        """Hosts expected to heartbeat whose last heartbeat (or enrollment) is older than cutoff."""
        stmt = select(Host).where(_silent(cutoff))
        return self.session.scalars(stmt).all()

    def mark_fault_if_silent(self, host_id: uuid.UUID, cutoff: datetime) -> bool:
        """Mark one host ``fault`` unless a heartbeat arrived since ``cutoff``."""
        stmt = (
            update(Host)
            .where(Host.id == host_id, _silent(cutoff))
            .values(state=rule(Transition.SILENCE).to)
            .execution_options(synchronize_session="fetch")
        )
        return changed_one(self.session.execute(stmt))


def _silent(cutoff: datetime) -> ColumnElement[bool]:
    """A watched host with no heartbeat (or, never heard of, no enrollment) since ``cutoff``."""
    last_seen = Host.last_heartbeat_at
    return Host.state.in_(WATCHED) & (
        (last_seen.is_not(None) & (last_seen < cutoff))
        | (last_seen.is_(None) & (Host.created_at < cutoff))
    )


# id, uuid, host_id, name, state, task_state, migration_target_host_id
VmRow = Row[uuid.UUID, uuid.UUID, uuid.UUID | None, str, VmState, str | None, uuid.UUID | None]
_VM_COLUMNS = (
    Vm.id,
    Vm.uuid,
    Vm.host_id,
    Vm.name,
    Vm.state,
    Vm.task_state,
    Vm.migration_target_host_id,
)


@dataclass(frozen=True)
class Memory:
    """What reconciliation remembers of a host: suspect VM states, strays reported."""

    suspects: dict[str, str] = field(default_factory=dict)
    strays: list[str] = field(default_factory=list)


class HeartbeatRepository:
    """The reads and writes of one flush of heartbeats, a batch of hosts at a time."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def hosts(self, host_ids: Sequence[uuid.UUID]) -> Sequence[Row[Any]]:
        """``id, name, state, usage`` of the hosts that still exist."""
        stmt = select(Host.id, Host.name, Host.state, Host.usage).where(Host.id.in_(host_ids))
        return self.session.execute(stmt).all()

    def credential(self, host_id: uuid.UUID) -> Row[str | None, HostState] | None:
        """``credential_hash, state`` of one host, if it exists."""
        stmt = select(Host.credential_hash, Host.state).where(Host.id == host_id)
        return self.session.execute(stmt).first()

    def vms_on(self, host_ids: Sequence[uuid.UUID]) -> Sequence[VmRow]:
        """The VMs placed on the hosts (``VmRow``)."""
        stmt = select(*_VM_COLUMNS).where(Vm.host_id.in_(host_ids))
        return self.session.execute(stmt).all()

    def vms_by_uuid(self, uuids: Sequence[uuid.UUID]) -> dict[uuid.UUID, VmRow]:
        """The VMs among domain ``uuids``, wherever VRM has them."""
        if not uuids:
            return {}
        stmt = select(*_VM_COLUMNS).where(Vm.uuid.in_(list(uuids)))
        return {row.uuid: row for row in self.session.execute(stmt).all()}

    def memories(self, host_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Memory]:
        """What reconciliation remembers of each host (hosts with nothing are left out)."""
        stmt = select(HostReconciliation).where(HostReconciliation.host_id.in_(host_ids))
        return {
            row.host_id: Memory(dict(row.suspects), list(row.strays))
            for row in self.session.scalars(stmt)
        }

    def remember(self, host_id: uuid.UUID, memory: Memory) -> None:
        """Keep what reconciliation remembers of a host."""
        self.session.merge(
            HostReconciliation(host_id=host_id, suspects=memory.suspects, strays=memory.strays)
        )

    def correct_vm(self, vm_id: uuid.UUID, *, recorded: VmState, actual: VmState) -> bool:
        """Set a VM's state to what its node reports, unless it changed or an operation began
        (a claim, a migration): the compare-and-swap loses to any concurrent claim."""
        stmt = (
            update(Vm)
            .where(
                Vm.id == vm_id,
                Vm.state == recorded,
                Vm.task_state.is_(None),
                Vm.migration_target_host_id.is_(None),
            )
            .values(state=actual)
            .execution_options(synchronize_session=False)
        )
        return changed_one(self.session.execute(stmt))

    def set_columns(self, host_id: uuid.UUID, values: Mapping[str, Any]) -> None:
        """Write some columns of one host (facts that changed)."""
        stmt = update(Host).where(Host.id == host_id).values(**values)
        self.session.execute(stmt.execution_options(synchronize_session=False))

    def record_beats(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Each host's last heartbeat time and usage, in one statement for the batch.

        ``rows`` hold ``id``, ``last_heartbeat_at`` and ``usage``.
        """
        if rows:
            self.session.execute(update(Host), list(rows))


class ProcessRepository:
    """The rows of the running VRM processes."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def save(self, row: VrmProcess) -> None:
        """Insert or refresh one process's row."""
        self.session.merge(row)

    def live(self, seen_since: datetime) -> Sequence[VrmProcess]:
        """Processes that refreshed their row since ``seen_since``."""
        stmt = select(VrmProcess).where(VrmProcess.seen_at >= seen_since)
        return self.session.scalars(stmt).all()

    def forget_older(self, cutoff: datetime) -> None:
        """Drop the rows of processes gone before ``cutoff``."""
        self.session.execute(delete(VrmProcess).where(VrmProcess.seen_at < cutoff))
