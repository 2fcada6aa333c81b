"""Host liveness: a host whose agent stays silent too long is ``fault``."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from vrm.agents.repository import HostStateRepository
from vrm.events.emit import emit
from vrm.models.enums import Severity


def mark_silent_hosts(session: Session, *, now: datetime, fault_after_s: float) -> int:
    """Mark every host silent for ``fault_after_s`` as ``fault``; how many changed."""
    cutoff = now - timedelta(seconds=fault_after_s)
    repo = HostStateRepository(session)
    changed = 0
    for host in repo.silent_since(cutoff):
        previous = host.state
        # The swap re-checks silence, so a heartbeat racing this job wins.
        if repo.mark_fault_if_silent(host.id, cutoff):
            changed += 1
            emit(
                session,
                type="host_fault",
                severity=Severity.MAJOR,
                target_type="host",
                target_id=host.id,
                message=f"host {host.name} sent no heartbeat for {fault_after_s:g} s "
                f"(was {previous.value})",
                details={"last_heartbeat_at": _iso(host.last_heartbeat_at)},
            )
    return changed


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
