"""What ``GET /api/v1/system/load`` shows."""

from __future__ import annotations

from datetime import datetime

from vrm.schemas import ReadModel


class AdmissionRead(ReadModel):
    """Turns for database work."""

    turns: int
    waiting: int
    refused: int


class HeartbeatsRead(ReadModel):
    """Heartbeats taken in by this process."""

    received: int
    written: int
    shed: int
    pending: int
    flushed_at: datetime | None
    listening_since: datetime


class LoadRead(ReadModel):
    """How busy this VRM process is."""

    process: str
    loop_lag_ms: float
    max_loop_lag_ms: float
    overloaded: bool
    admission: AdmissionRead
    heartbeats: HeartbeatsRead
