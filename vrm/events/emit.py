"""Recording events: every service that notices something calls ``emit``."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from vrm.models import Event
from vrm.models.enums import Severity


def emit(
    session: Session,
    *,
    type: str,
    message: str,
    severity: Severity = Severity.INFO,
    target_type: str | None = None,
    target_id: uuid.UUID | None = None,
    task_id: uuid.UUID | None = None,
    details: dict[str, Any] | None = None,
) -> Event:
    """Add an event to the current transaction (kept only if it commits)."""
    event = Event(
        type=type,
        message=message,
        severity=severity,
        target_type=target_type,
        target_id=target_id,
        task_id=task_id,
        details=details or {},
    )
    session.add(event)
    return event
