"""Event and alarm API schemas (both are raised by VRM itself; read only here)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from vrm.models.enums import AlarmState, Severity
from vrm.schemas import ReadModel


class EventRead(ReadModel):
    """Something that happened, as the API shows it."""

    id: uuid.UUID
    created_at: datetime
    type: str
    severity: Severity
    message: str
    target_type: str | None
    target_id: uuid.UUID | None
    task_id: uuid.UUID | None
    details: dict[str, Any]


class AlarmRead(ReadModel):
    """A condition that needs attention, as the API shows it."""

    id: uuid.UUID
    code: str
    severity: Severity
    state: AlarmState
    message: str
    target_type: str | None
    target_id: uuid.UUID | None
    raised_at: datetime
    cleared_at: datetime | None
    acknowledged_by: uuid.UUID | None
    created_at: datetime
    updated_at: datetime
