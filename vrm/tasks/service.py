"""Reading tasks; the task engine that runs them lives elsewhere."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence

from sqlalchemy.orm import Session

from vrm.crud import get_or_404
from vrm.listing import ListParams
from vrm.models import Task
from vrm.tasks.repository import TaskRepository

KIND = "task"


def list_tasks(
    session: Session, *, params: ListParams, filters: Mapping[str, object]
) -> tuple[Sequence[Task], int]:
    """A page of tasks, newest first by default."""
    return TaskRepository(session).page(params, filters)


def get_task(session: Session, *, task_id: uuid.UUID) -> Task:
    """One task, or 404."""
    return get_or_404(TaskRepository(session), task_id, KIND)
