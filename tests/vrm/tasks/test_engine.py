"""The task engine with a flow made for the test: steps, resume, retries, compensation.

These tests commit for real (``committed_engine``): the engine opens its own sessions.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from vrm.agents.client import AgentUnreachable
from vrm.agents.directory import AgentClients
from vrm.config import Settings
from vrm.db import make_session_factory
from vrm.errors import ValidationFailed
from vrm.models import Event, Task
from vrm.models.base import utcnow
from vrm.models.enums import TaskState
from vrm.tasks.engine import run_task
from vrm.tasks.flow import Flow, FlowRegistry, TaskFailure, TaskRuntime
from vrm.tasks.types import TaskType
from vrm.tasks.worker import TaskWorker

NewTask = Callable[..., uuid.UUID]
CALLS: dict[uuid.UUID, list[str]] = {}
# What the next run of a step should raise, per task.
FAIL: dict[tuple[uuid.UUID, str], list[Exception]] = {}


def _step(flow: Flow, name: str) -> None:
    task_id = flow.ctx.task.id
    CALLS.setdefault(task_id, []).append(name)
    pending = FAIL.get((task_id, name))
    if pending:
        raise pending.pop(0)


class RecordingFlow(Flow):
    """Three steps that record their runs; failures are injected per task.

    It borrows a real task type: the tests' registry holds only this flow.
    """

    type = TaskType.HOST_SYNC_NETWORKS
    steps = ("one", "two", "three")

    def one(self) -> None:
        _step(self, "one")

    def two(self) -> None:
        _step(self, "two")

    def three(self) -> None:
        _step(self, "three")

    def finish(self) -> None:
        CALLS[self.ctx.task.id].append("finish")

    def compensate(self, failure: TaskFailure) -> None:
        CALLS[self.ctx.task.id].append(f"compensate:{failure.code}")


@pytest.fixture
def factory(committed_engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(committed_engine)


@pytest.fixture
def settings() -> Settings:
    return Settings(task_max_attempts=3, task_stale_after_s=30, task_workers=2)


@pytest.fixture
def runtime(settings: Settings) -> TaskRuntime:
    return TaskRuntime(settings, FlowRegistry([RecordingFlow], complete=False), AgentClients())


@pytest.fixture
def new_task(factory: sessionmaker[Session]) -> Iterator[NewTask]:
    made: list[uuid.UUID] = []

    def make(**columns: object) -> uuid.UUID:
        with factory.begin() as session:
            task = Task(
                type=RecordingFlow.type, target_type="test", target_id=uuid.uuid4(), **columns
            )
            session.add(task)
            session.flush()
            made.append(task.id)
            return task.id

    yield make
    for task_id in made:
        CALLS.pop(task_id, None)


def claim(
    factory: sessionmaker[Session], settings: Settings, worker: TaskWorker, task_id: uuid.UUID
) -> None:
    """Let ``worker`` claim due tasks until ``task_id`` is among them."""
    for _ in range(50):
        if task_id in worker.claim_once():
            return
    raise AssertionError(f"task {task_id} was never claimed")


def load(factory: sessionmaker[Session], task_id: uuid.UUID) -> Task:
    with factory() as session:
        task = session.get(Task, task_id)
        assert task is not None
        session.expunge(task)
        return task


def test_runs_every_step_once_then_finishes(
    factory: sessionmaker[Session], settings: Settings, runtime: TaskRuntime, new_task: NewTask
) -> None:
    task_id = new_task()
    worker = TaskWorker(factory, runtime)
    claim(factory, settings, worker, task_id)
    run_task(factory, runtime, task_id, worker.name)
    assert CALLS[task_id] == ["one", "two", "three", "finish"]
    task = load(factory, task_id)
    assert task.state == TaskState.SUCCEEDED
    assert task.progress == 100
    assert task.finished_at is not None


def test_a_dead_workers_task_resumes_at_its_step(
    factory: sessionmaker[Session], settings: Settings, runtime: TaskRuntime, new_task: NewTask
) -> None:
    # A worker that died after step "one": the task is running, its heartbeat stale.
    stale = utcnow() - timedelta(seconds=120)
    task_id = new_task(
        state=TaskState.RUNNING,
        step="two",
        claimed_by="dead-worker",
        heartbeat_at=stale,
        progress=25,
    )
    worker = TaskWorker(factory, runtime)
    claim(factory, settings, worker, task_id)
    run_task(factory, runtime, task_id, worker.name)
    assert CALLS[task_id] == ["two", "three", "finish"], "step one is not run again"
    assert load(factory, task_id).state == TaskState.SUCCEEDED


def test_a_live_workers_task_is_left_alone(
    factory: sessionmaker[Session], settings: Settings, runtime: TaskRuntime, new_task: NewTask
) -> None:
    task_id = new_task(
        state=TaskState.RUNNING,
        step="two",
        claimed_by="busy-worker",
        heartbeat_at=utcnow(),
    )
    worker = TaskWorker(factory, runtime)
    assert task_id not in worker.claim_once()
    run_task(factory, runtime, task_id, worker.name)
    assert task_id not in CALLS, "another worker's task is not run"


def test_transient_failures_are_retried_later(
    factory: sessionmaker[Session], settings: Settings, runtime: TaskRuntime, new_task: NewTask
) -> None:
    task_id = new_task()
    unreachable = AgentUnreachable("down", code="agent_unreachable", status=None, retryable=True)
    FAIL[(task_id, "two")] = [unreachable]
    worker = TaskWorker(factory, runtime)
    claim(factory, settings, worker, task_id)
    run_task(factory, runtime, task_id, worker.name)
    task = load(factory, task_id)
    assert task.state == TaskState.QUEUED
    assert task.attempts == 1
    assert task.step == "two"
    assert task.next_attempt_at is not None
    assert task_id not in worker.claim_once(), "not before its backoff has passed"
    with factory.begin() as session:
        row = session.get(Task, task_id)
        assert row is not None
        row.next_attempt_at = utcnow() - timedelta(seconds=1)
    claim(factory, settings, worker, task_id)
    run_task(factory, runtime, task_id, worker.name)
    assert CALLS[task_id] == ["one", "two", "two", "three", "finish"]
    assert load(factory, task_id).state == TaskState.SUCCEEDED


def test_permanent_failure_compensates_and_records_an_event(
    factory: sessionmaker[Session], settings: Settings, runtime: TaskRuntime, new_task: NewTask
) -> None:
    task_id = new_task()
    FAIL[(task_id, "two")] = [ValidationFailed("no such port group", code="port_group_gone")]
    worker = TaskWorker(factory, runtime)
    claim(factory, settings, worker, task_id)
    run_task(factory, runtime, task_id, worker.name)
    assert CALLS[task_id] == ["one", "two", "compensate:port_group_gone"]
    task = load(factory, task_id)
    assert task.state == TaskState.FAILED
    assert task.error_code == "port_group_gone"
    assert task.error_message == "no such port group"
    with factory() as session:
        events = session.query(Event).filter(Event.task_id == task_id).all()
        assert [e.type for e in events] == ["task_failed"]


def test_retries_end_after_max_attempts(
    factory: sessionmaker[Session], settings: Settings, runtime: TaskRuntime, new_task: NewTask
) -> None:
    task_id = new_task(attempts=settings.task_max_attempts - 1)
    unreachable = AgentUnreachable("down", code="agent_unreachable", status=None, retryable=True)
    FAIL[(task_id, "one")] = [unreachable]
    worker = TaskWorker(factory, runtime)
    claim(factory, settings, worker, task_id)
    run_task(factory, runtime, task_id, worker.name)
    task = load(factory, task_id)
    assert task.state == TaskState.FAILED
    assert task.error_code == "agent_unreachable"
    assert CALLS[task_id][-1] == "compensate:agent_unreachable"


def test_two_workers_never_run_one_task_twice(
    factory: sessionmaker[Session], settings: Settings, runtime: TaskRuntime, new_task: NewTask
) -> None:
    task_id = new_task()
    first, second = TaskWorker(factory, runtime), TaskWorker(factory, runtime)
    claim(factory, settings, first, task_id)
    assert task_id not in second.claim_once()
    run_task(factory, runtime, task_id, second.name)
    assert task_id not in CALLS
    run_task(factory, runtime, task_id, first.name)
    assert CALLS[task_id] == ["one", "two", "three", "finish"]
