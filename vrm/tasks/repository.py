"""SQL for tasks."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, func, select, update

from vrm.models import Task
from vrm.models.enums import TaskState
from vrm.repository import Repository, changed_one


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

    def claimable(self, now: datetime, stale_before: datetime, limit: int) -> Sequence[uuid.UUID]:
        """Ids of tasks a worker may take: queued and due, or running under a dead worker.

        On PostgreSQL the rows are locked with SKIP LOCKED, so concurrent VRM processes
        look at different tasks; the caller's compare-and-swap decides in any case.
        """
        stmt = (
            select(Task.id)
            .where(_takeable(now, stale_before))
            .order_by(Task.created_at)
            .limit(limit)
        )
        if self.session.get_bind().dialect.name == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True)
        return self.session.scalars(stmt).all()

    def claim(self, task_id: uuid.UUID, worker: str, now: datetime, stale_before: datetime) -> bool:
        """Take a task for ``worker`` (compare-and-swap); whether it is now ours."""
        stmt = (
            update(Task)
            .where(Task.id == task_id, _takeable(now, stale_before))
            .values(
                state=TaskState.RUNNING,
                claimed_by=worker,
                heartbeat_at=now,
                started_at=func.coalesce(Task.started_at, now),
            )
            .execution_options(synchronize_session=False)
        )
        return changed_one(self.session.execute(stmt))

    def touch(self, task_ids: Sequence[uuid.UUID], worker: str, now: datetime) -> None:
        """Mark ``worker``'s running tasks alive."""
        if task_ids:
            stmt = (
                update(Task)
                .where(Task.id.in_(task_ids), Task.claimed_by == worker)
                .values(heartbeat_at=now)
                .execution_options(synchronize_session=False)
            )
            self.session.execute(stmt)

    def cancel_queued(self, task_id: uuid.UUID, now: datetime) -> bool:
        """Cancel a task that is queued and never ran a step; whether it was."""
        stmt = (
            update(Task)
            .where(Task.id == task_id, Task.state == TaskState.QUEUED, Task.attempts == 0)
            .values(state=TaskState.CANCELLED, finished_at=now)
            .execution_options(synchronize_session="fetch")
        )
        return changed_one(self.session.execute(stmt))

    def request_cancel(self, task_id: uuid.UUID, now: datetime) -> bool:
        """Ask a queued or running task to stop; whether it was still going."""
        stmt = (
            update(Task)
            .where(Task.id == task_id, Task.state.in_((TaskState.QUEUED, TaskState.RUNNING)))
            .where(Task.cancel_requested_at.is_(None))
            .values(cancel_requested_at=now)
            .execution_options(synchronize_session="fetch")
        )
        return changed_one(self.session.execute(stmt))

    def for_target(self, target_id: uuid.UUID) -> Sequence[Task]:
        """The tasks of one object, oldest first."""
        stmt = select(Task).where(Task.target_id == target_id).order_by(Task.created_at)
        return self.session.scalars(stmt).all()


def _takeable(now: datetime, stale_before: datetime) -> ColumnElement[bool]:
    """Queued and due, or running under a worker silent since ``stale_before``."""
    due = Task.next_attempt_at.is_(None) | (Task.next_attempt_at <= now)
    queued = (Task.state == TaskState.QUEUED) & due
    orphaned = (Task.state == TaskState.RUNNING) & (Task.heartbeat_at < stale_before)
    return queued | orphaned
