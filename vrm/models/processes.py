"""The VRM processes at work, and how well each hears its agents."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from vrm.models.base import Base


class VrmProcess(Base):
    """One running VRM process, refreshed by its heartbeat flusher about every second.

    Host liveness reads these rows: a host's silence only counts while every live VRM
    process has been listening without overload (``listening_since``) and has written
    what it heard (``flushed_at``).
    """

    __tablename__ = "vrm_processes"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    started_at: Mapped[datetime]
    # Since when this process has heard heartbeats without being overloaded.
    listening_since: Mapped[datetime]
    # Every heartbeat this process received before this time is in the database.
    flushed_at: Mapped[datetime]
    seen_at: Mapped[datetime]
