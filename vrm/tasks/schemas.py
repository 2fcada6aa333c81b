"""Task API schemas (tasks are made by the operations that need them; read only here)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from vrm.models.enums import TaskState
from vrm.schemas import ReadModel


class TaskRead(ReadModel):
    """A task as the API shows it: what, on which object, how far, and how it ended."""

    id: uuid.UUID
    type: str
    state: TaskState
    progress: int
    step: str
    target_type: str
    target_id: uuid.UUID | None
    user_id: uuid.UUID | None
    params: dict[str, Any]
    result: dict[str, Any]
    error_code: str | None
    error_message: str | None
    attempts: int
    started_at: datetime | None
    finished_at: datetime | None
    created_at: datetime
    updated_at: datetime
