"""Recording audit records; every service that changes inventory calls ``record``."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from vrm.auth.principal import Principal
from vrm.models import AuditRecord


def record(
    session: Session,
    *,
    actor: Principal,
    action: str,
    target_type: str,
    target_id: uuid.UUID | None,
    details: dict[str, Any] | None = None,
) -> None:
    """Add an audit record to the current transaction (kept only if it commits)."""
    session.add(
        AuditRecord(
            user_id=actor.user_id,
            username=actor.name,
            action=action,
            target_type=target_type,
            target_id=target_id,
            details=details or {},
        )
    )
