"""Flows: multi-step operations the task engine runs, step by step, durably.

A flow lists its steps by name; each step is a method. The engine runs the step the
task's ``step`` column names, then records the next one in the same transaction as
whatever the step wrote, so a VRM that dies mid-task resumes at the step it was in.
Steps must therefore be idempotent: agent commands are, and database writes are
part of the step's own transaction.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, ClassVar, cast

from sqlalchemy.orm import Session

from vrm.agents.client import AgentClient
from vrm.agents.directory import AgentClients, agent_for, default_clients
from vrm.config import Settings
from vrm.models import Task


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
    clients: AgentClients = field(default_factory=default_clients)
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

    type: ClassVar[str]
    steps: ClassVar[tuple[str, ...]]

    def __init__(self, ctx: FlowContext) -> None:
        self.ctx = ctx

    def finish(self) -> None:
        """After the last step, in the transaction that marks the task succeeded."""

    def compensate(self, failure: TaskFailure) -> None:
        """After a permanent failure: put things back into a consistent state."""

    def release(self) -> None:
        """A queued task that never ran was cancelled: undo what its request recorded."""


FLOWS: dict[str, type[Flow]] = {}


def register(cls: type[Flow]) -> type[Flow]:
    """Class decorator: make a flow known to the engine under its ``type``."""
    FLOWS[cls.type] = cls
    return cls


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
