"""SQL for tasks."""

from __future__ import annotations

from vrm.models import Task
from vrm.repository import Repository


class TaskRepository(Repository[Task]):
    """Durable operations, newest first unless asked otherwise."""

    model = Task
    sortable = (
        "created_at",
        "updated_at",
        "type",
        "state",
        "progress",
        "started_at",
        "finished_at",
    )
    default_sort = ("-created_at",)
