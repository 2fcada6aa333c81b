"""Queueing, reading and cancelling tasks; ``vrm.tasks.engine`` runs them."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence

from sqlalchemy.orm import Session

from vrm.audit.service import record
from vrm.auth.principal import Principal
from vrm.crud import get_or_404
from vrm.errors import Conflict
from vrm.listing import ListParams
from vrm.models import Task
from vrm.models.base import utcnow
from vrm.tasks.flow import TaskRuntime
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


def queue_task(
    session: Session,
    *,
    type: str,
    target_type: str,
    target_id: uuid.UUID,
    user_id: uuid.UUID | None,
    params: dict[str, object] | None = None,
) -> Task:
    """Record a task in the current transaction; workers see it once it commits."""
    task = Task(
        type=type,
        target_type=target_type,
        target_id=target_id,
        user_id=user_id,
        params=params or {},
    )
    session.add(task)
    session.flush()
    # Read by the request's session dependency: wake the worker after the commit.
    session.info["tasks_queued"] = True
    return task


def cancel_task(
    session: Session, *, actor: Principal, runtime: TaskRuntime, task_id: uuid.UUID
) -> Task:
    """Cancel a queued task, or ask a running one that can stop mid-way (a migration) to
    stop; 409 otherwise."""
    repo = TaskRepository(session)
    task = get_or_404(repo, task_id, KIND)
    flow = runtime.flows.of(task)
    if repo.cancel_queued(task.id, utcnow()):
        runtime.flow(session, task).release()
    elif not (flow.cancellable and repo.request_cancel(task.id, utcnow())):
        raise Conflict(
            f"task {task.id} is {task.state.value} and can no longer be cancelled",
            code="task_not_cancellable",
            details={"state": task.state.value},
        )
    record(session, actor=actor, action="task.cancel", target_type=KIND, target_id=task.id)
    return task
