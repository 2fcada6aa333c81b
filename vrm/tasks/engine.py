"""Running one task: its flow's steps in order, each in its own transaction.

Transient agent errors re-queue the task with exponential backoff (up to
``VRM_TASK_MAX_ATTEMPTS``); any other failure runs the flow's compensation and
fails the task with the error's code and message, recorded as an Event.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker

from vrm.agents.client import AgentCallError
from vrm.errors import VrmError
from vrm.events.emit import emit
from vrm.models import Task
from vrm.models.base import utcnow
from vrm.models.enums import Severity, TaskState
from vrm.tasks.flow import Flow, TaskFailure, TaskRuntime

log = logging.getLogger(__name__)

DONE = "done"


def run_task(
    factory: sessionmaker[Session], runtime: TaskRuntime, task_id: uuid.UUID, worker: str
) -> None:
    """Run the task's remaining steps while this worker holds it."""
    while True:
        with factory() as session:
            task = session.get(Task, task_id)
            if task is None or task.state != TaskState.RUNNING or task.claimed_by != worker:
                return
            flow = runtime.flow(session, task)
            try:
                finished = _advance(flow, task)
                session.commit()
            except Exception as exc:
                session.rollback()
                _failed(factory, runtime, task_id, worker, _classify(exc))
                return
            finally:
                flow.ctx.close()
        if finished:
            return


def _advance(flow: Flow, task: Task) -> bool:
    """Run one step (or finish); whether the task is over."""
    steps = flow.steps
    if task.step == DONE:
        flow.finish()
        task.state, task.progress, task.finished_at = TaskState.SUCCEEDED, 100, utcnow()
        task.error_code = task.error_message = None
        return True
    index = steps.index(task.step) if task.step else 0
    getattr(flow, steps[index])()
    task.step = steps[index + 1] if index + 1 < len(steps) else DONE
    task.progress = (index + 1) * 100 // (len(steps) + 1)
    task.heartbeat_at = utcnow()
    return False


def _classify(exc: Exception) -> TaskFailure:
    if isinstance(exc, TaskFailure):
        return exc
    if isinstance(exc, AgentCallError):
        return TaskFailure(exc.message, code=exc.code, retryable=exc.retryable)
    if isinstance(exc, VrmError):
        return TaskFailure(exc.message, code=exc.code)
    log.exception("task step failed unexpectedly")
    return TaskFailure(f"internal error: {exc!s}"[:500], code="internal_error")


def _failed(
    factory: sessionmaker[Session],
    runtime: TaskRuntime,
    task_id: uuid.UUID,
    worker: str,
    failure: TaskFailure,
) -> None:
    """Re-queue a transient failure, or compensate and fail the task."""
    with factory() as session:
        task = session.get(Task, task_id)
        if task is None or task.claimed_by != worker:
            return
        if failure.retryable and task.attempts + 1 < runtime.settings.task_max_attempts:
            _requeue(task, failure)
        else:
            mark_failed(session, _compensate(session, runtime, task, failure), failure)
        session.commit()


def _requeue(task: Task, failure: TaskFailure) -> None:
    task.attempts += 1
    delay = min(2**task.attempts, 60)
    task.state, task.claimed_by = TaskState.QUEUED, None
    task.next_attempt_at = utcnow() + timedelta(seconds=delay)
    task.error_code, task.error_message = failure.code, f"will retry in {delay} s: {failure}"
    log.info("task %s (%s) re-queued after: %s", task.id, task.type, failure)


def _compensate(session: Session, runtime: TaskRuntime, task: Task, failure: TaskFailure) -> Task:
    """Run the flow's compensation; the (reloaded) task, to be marked failed."""
    flow = runtime.flow(session, task)
    task_id = task.id
    try:
        flow.compensate(failure)
        session.flush()
    except Exception:
        # What it wrote since its last agent call is dropped; the task still fails with
        # its own error, and the operator sees both.
        session.rollback()
        log.exception("compensation of task %s failed", task_id)
        task = _reload(session, task_id)
        emit(
            session,
            type="task_compensation_failed",
            severity=Severity.CRITICAL,
            target_type=task.target_type,
            target_id=task.target_id,
            task_id=task.id,
            message=f"cleaning up after failed task {task.type} did not complete",
        )
    finally:
        flow.ctx.close()
    return task


def mark_failed(session: Session, task: Task, failure: TaskFailure) -> None:
    """End a task as failed (cancelled, when an operator asked it to stop) with the
    failure's code and message, and say so in an event."""
    cancelled = task.cancel_requested_at is not None
    task.state = TaskState.CANCELLED if cancelled else TaskState.FAILED
    task.finished_at = utcnow()
    task.error_code, task.error_message = failure.code, failure.message
    emit(
        session,
        type="task_cancelled" if cancelled else "task_failed",
        severity=Severity.INFO if cancelled else Severity.MAJOR,
        target_type=task.target_type,
        target_id=task.target_id,
        task_id=task.id,
        message=f"{task.type} {'cancelled' if cancelled else 'failed'}: {failure.message}",
        details={"code": failure.code},
    )


def _reload(session: Session, task_id: uuid.UUID) -> Task:
    task = session.get(Task, task_id)
    assert task is not None, "tasks are never deleted"
    return task
