"""Flows: multi-step operations the task engine runs, step by step, durably.

A flow lists its steps by name; each step is a method. The engine runs the step the
task's ``step`` column names, then records the next one in the same transaction as
whatever the step wrote, so a VRM that dies mid-task resumes at the step it was in.
Steps must therefore be idempotent: agent commands are, and database writes are
part of the step's own transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, cast

from sqlalchemy.orm import Session

from vrm.agents.client import AgentClient
from vrm.agents.directory import AgentClients, agent_for
from vrm.config import Settings
from vrm.models import Task
from vrm.tasks.types import TaskType


class TaskFailure(Exception):
    """Why a step failed, and whether trying again later may help."""

    def __init__(self, message: str, *, code: str, retryable: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.retryable = retryable


@dataclass
class FlowContext:
    """What a step works with: its transaction, its task and the agents."""

    session: Session
    task: Task
    settings: Settings
    # Shared by every step and task: clients stay open, their connections are reused.
    clients: AgentClients
    _clients: dict[uuid.UUID, AgentClient] = field(default_factory=dict)

    def agent(self, host_id: uuid.UUID) -> AgentClient:
        """The shared client of a host's agent (looked up once per step).

        Every call through it first commits the step's open transaction: no database
        lock or snapshot is held while a node works, which may take minutes. Steps are
        idempotent, so what they wrote before a call may safely be kept early.
        """
        if host_id not in self._clients:
            self._clients[host_id] = agent_for(self.session, self.settings, host_id, self.clients)
        return cast(AgentClient, _Releasing(self._clients[host_id], self.session))

    def close(self) -> None:
        """Forget this step's clients; they stay open in the shared pool for later steps."""
        self._clients.clear()

    @property
    def params(self) -> dict[str, Any]:
        """The task's parameters."""
        return self.task.params


class Flow:
    """Base of every flow; subclasses set ``type`` and ``steps`` and write the steps."""

    type: ClassVar[TaskType]
    steps: ClassVar[tuple[str, ...]]
    # Whether a running task may be asked to stop (its steps read cancel_requested_at).
    cancellable: ClassVar[bool] = False

    def __init__(self, ctx: FlowContext) -> None:
        self.ctx = ctx

    def finish(self) -> None:
        """After the last step, in the transaction that marks the task succeeded."""

    def compensate(self, failure: TaskFailure) -> None:
        """After a permanent failure: put things back into a consistent state."""

    def release(self) -> None:
        """A queued task that never ran was cancelled: undo what its request recorded."""


class FlowRegistry(Mapping[TaskType, type[Flow]]):
    """The flow of every task type, given explicitly (``vrm.flows.all_flows``).

    Each type has exactly one flow: a duplicate or a type without its flow is refused
    when the registry is made, so a missing flow shows at start-up.
    """

    def __init__(self, flows: Iterable[type[Flow]], *, complete: bool = True) -> None:
        self._flows: dict[TaskType, type[Flow]] = {}
        for flow in flows:
            if flow.type in self._flows:
                raise ValueError(f"two flows for task type {flow.type}")
            self._flows[flow.type] = flow
        missing = set(TaskType) - set(self._flows)
        if complete and missing:
            raise ValueError(f"no flow for task types {sorted(missing)}")

    def __getitem__(self, key: TaskType) -> type[Flow]:
        return self._flows[key]

    def __iter__(self) -> Iterator[TaskType]:
        return iter(self._flows)

    def __len__(self) -> int:
        return len(self._flows)

    def of(self, task: Task) -> type[Flow]:
        """The flow of a task (its stored type)."""
        return self._flows[TaskType(task.type)]


@dataclass(frozen=True)
class TaskRuntime:
    """What running tasks needs, made once per VRM process: settings, flows, agent clients.

    A test or a fleet simulator supplies its own flows or agent clients here.
    """

    settings: Settings
    flows: FlowRegistry
    clients: AgentClients

    def flow(self, session: Session, task: Task) -> Flow:
        """The flow of ``task``, working in ``session``."""
        return self.flows.of(task)(FlowContext(session, task, self.settings, self.clients))

    def agent(self, session: Session, host_id: uuid.UUID) -> AgentClient:
        """The shared client of a host's agent, for a request that asks a node directly."""
        return agent_for(session, self.settings, host_id, self.clients)


class _Releasing:
    """An agent client that ends the session's transaction before each command."""

    def __init__(self, client: AgentClient, session: Session) -> None:
        self._client = client
        self._session = session

    def __getattr__(self, name: str) -> Any:
        if name == "close":
            raise AttributeError("a shared agent client is closed by its pool, not by a step")
        attribute = getattr(self._client, name)
        if not callable(attribute):
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            if self._session.in_transaction():
                self._session.commit()
            return attribute(*args, **kwargs)

        return call
