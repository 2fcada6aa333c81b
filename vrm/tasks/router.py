"""``/api/v1/tasks``."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from vrm.deps import CurrentUser, SessionDep, TasksDep, Writer
from vrm.errors import Conflict, Forbidden, NotFound, ValidationFailed, error_responses
from vrm.listing import ListDep, TextFilter
from vrm.models.enums import TaskState
from vrm.schemas import Page
from vrm.tasks import service
from vrm.tasks.schemas import TaskRead

router = APIRouter(prefix="/tasks", tags=["tasks"])


@router.get("", responses=error_responses(ValidationFailed))
def list_tasks(
    session: SessionDep,
    _user: CurrentUser,
    params: ListDep,
    state: TaskState | None = None,
    type: TextFilter = None,
    target_type: TextFilter = None,
    target_id: uuid.UUID | None = None,
) -> Page[TaskRead]:
    """List tasks (newest first), filtered by state, type or target."""
    filters = {"state": state, "type": type, "target_type": target_type, "target_id": target_id}
    items, total = service.list_tasks(session, params=params, filters=filters)
    return Page(items=[TaskRead.model_validate(t) for t in items], total=total)


@router.get("/{task_id}", responses=error_responses(NotFound))
def get_task(session: SessionDep, _user: CurrentUser, task_id: uuid.UUID) -> TaskRead:
    """One task, with its progress or outcome."""
    return TaskRead.model_validate(service.get_task(session, task_id=task_id))


@router.post("/{task_id}/cancel", responses=error_responses(Conflict, Forbidden, NotFound))
def cancel_task(
    session: SessionDep, runtime: TasksDep, user: Writer, task_id: uuid.UUID
) -> TaskRead:
    """Cancel a queued task that has not started; a running one answers 409."""
    task = service.cancel_task(session, actor=user, runtime=runtime, task_id=task_id)
    return TaskRead.model_validate(task)
