"""Tasks (durable operations), events (what happened) and alarms (what is wrong)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from vrm.models.base import Base, IdMixin, TimestampMixin, utcnow
from vrm.models.enums import AlarmState, Severity, TaskState, str_enum


class Task(IdMixin, TimestampMixin, Base):
    """One operation, from request to outcome; survives VRM restarts."""

    __tablename__ = "tasks"
    __table_args__ = (
        CheckConstraint("progress BETWEEN 0 AND 100", name="progress"),
        Index("ix_tasks_state_created_at", "state", "created_at"),
        Index("ix_tasks_target", "target_type", "target_id"),
        # The WebUI's change feed reads what changed lately.
        Index("ix_tasks_updated_at", "updated_at"),
    )

    type: Mapped[str] = mapped_column(String(64))
    state: Mapped[TaskState] = mapped_column(str_enum(TaskState), default=TaskState.QUEUED)
    progress: Mapped[int] = mapped_column(default=0)
    step: Mapped[str] = mapped_column(String(64), default="")
    target_type: Mapped[str] = mapped_column(String(32))
    target_id: Mapped[uuid.UUID | None]
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    result: Mapped[dict[str, Any]] = mapped_column(default=dict)
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(default=0)
    claimed_by: Mapped[str | None] = mapped_column(String(128))
    # The worker running the task touches this; a stale one means the worker died.
    heartbeat_at: Mapped[datetime | None]
    # After a transient failure the task waits until then before its next attempt.
    next_attempt_at: Mapped[datetime | None]
    started_at: Mapped[datetime | None]
    # An operator asked a running task to stop (flows that can stop mid-way read it).
    cancel_requested_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class Event(IdMixin, Base):
    """Something that happened, kept for the operator's history."""

    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_created_at", "created_at"),
        Index("ix_events_target", "target_type", "target_id"),
    )

    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    type: Mapped[str] = mapped_column(String(64))
    severity: Mapped[Severity] = mapped_column(str_enum(Severity), default=Severity.INFO)
    message: Mapped[str] = mapped_column(Text)
    target_type: Mapped[str | None] = mapped_column(String(32))
    target_id: Mapped[uuid.UUID | None]
    task_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("tasks.id", ondelete="SET NULL"))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Alarm(IdMixin, TimestampMixin, Base):
    """A condition that needs attention until it clears."""

    __tablename__ = "alarms"
    __table_args__ = (
        Index("ix_alarms_state", "state"),
        Index("ix_alarms_updated_at", "updated_at"),
    )

    code: Mapped[str] = mapped_column(String(64))
    severity: Mapped[Severity] = mapped_column(str_enum(Severity), default=Severity.MAJOR)
    state: Mapped[AlarmState] = mapped_column(str_enum(AlarmState), default=AlarmState.ACTIVE)
    message: Mapped[str] = mapped_column(Text)
    target_type: Mapped[str | None] = mapped_column(String(32))
    target_id: Mapped[uuid.UUID | None]
    raised_at: Mapped[datetime] = mapped_column(default=utcnow)
    cleared_at: Mapped[datetime | None]
    acknowledged_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
