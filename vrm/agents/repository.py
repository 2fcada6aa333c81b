"""SQL for enrollment tokens and for the host rows agents keep up to date."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, select, update

from vrm.models import EnrollmentToken, Host
from vrm.models.enums import HostState
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

    def swap_state(
        self, host_id: uuid.UUID, *, expected: Sequence[HostState], new: HostState
    ) -> bool:
        """Set ``new`` if the host is in one of ``expected``; whether it changed."""
        stmt = (
            update(Host)
            .where(Host.id == host_id, Host.state.in_(expected))
            .values(state=new)
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
            .values(state=HostState.FAULT)
            .execution_options(synchronize_session="fetch")
        )
        return changed_one(self.session.execute(stmt))


# Hosts whose agents are expected to report (not those already fault or in maintenance).
_WATCHED = (HostState.NORMAL, HostState.CONNECTING, HostState.MAINTAINING)


def _silent(cutoff: datetime) -> ColumnElement[bool]:
    """A watched host with no heartbeat (or, never heard of, no enrollment) since ``cutoff``."""
    last_seen = Host.last_heartbeat_at
    return Host.state.in_(_WATCHED) & (
        (last_seen.is_not(None) & (last_seen < cutoff))
        | (last_seen.is_(None) & (Host.created_at < cutoff))
    )
