"""Gathering the load figures of this process."""

from __future__ import annotations

from starlette.datastructures import State

from vrm.agents.ingest import HeartbeatIngest
from vrm.load.admission import Admission
from vrm.load.lag import LoopLag
from vrm.load.schemas import AdmissionRead, HeartbeatsRead, LoadRead


def load_of(state: State) -> LoadRead:
    """The figures of the app whose state is ``state``."""
    lag: LoopLag = state.lag
    admission: Admission = state.admission
    ingest: HeartbeatIngest = state.heartbeats
    return LoadRead(
        process=ingest.process,
        loop_lag_ms=round(lag.lag_s * 1000, 1),
        max_loop_lag_ms=round(lag.max_lag_s * 1000, 1),
        overloaded=lag.overloaded,
        admission=AdmissionRead(
            turns=admission.turns, waiting=admission.waiting, refused=admission.refused
        ),
        heartbeats=HeartbeatsRead(
            received=ingest.received,
            written=ingest.written,
            shed=lag.shed,
            pending=ingest.pending,
            flushed_at=ingest.flushed_at,
            listening_since=ingest.listening_since(),
        ),
    )
