"""Taking heartbeats in: checked and kept in memory on the event loop, written in batches.

A heartbeat costs VRM no thread, no connection and no write transaction of its own:

- the host credential is checked against a cache of the hosts' credential hashes
  (filled by one read when a host is new to this process, or presents another credential);
- the report replaces the host's previous unwritten one;
- ``flush()``, run about every ``VRM_HEARTBEAT_FLUSH_S`` by the write-behind thread,
  writes the whole batch in one transaction (``vrm.agents.heartbeat.record``) and this
  process's row in ``vrm_processes``, which host liveness reads.

Nothing here must outlive the process: a heartbeat not yet written when VRM dies is
replaced by the agent's next one, and liveness only counts silence after VRM listened.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from starlette.concurrency import run_in_threadpool

from cna_agent.protocol import Heartbeat, HeartbeatAck, PoolReport
from vrm.agents.credentials import host_credential_matches
from vrm.agents.heartbeat import Received, record
from vrm.agents.repository import HeartbeatRepository, ProcessRepository
from vrm.db import SessionScope
from vrm.errors import Overloaded, Unauthorized
from vrm.hosts.states import Transition, rule
from vrm.load.admission import Admission
from vrm.load.lag import LoopLag
from vrm.models import VrmProcess
from vrm.models.base import utcnow
from vrm.models.enums import HostState

# A host that presented a wrong credential is looked up again at most this often.
_RECHECK_S = 5.0


@dataclass(slots=True)
class _Known:
    """What this process knows of a host's identity."""

    credential_hash: str | None
    state: HostState
    checked_at: float


class HeartbeatIngest:
    """The heartbeats of one VRM process, from receipt to the database."""

    def __init__(
        self,
        *,
        process: str,
        write_scope: SessionScope,
        read_scope: SessionScope,
        admission: Admission,
        lag: LoopLag,
        retry_after_s: int,
    ) -> None:
        self.process = process
        self.write_scope = write_scope
        self.read_scope = read_scope
        self._admission = admission
        self._lag = lag
        self._retry_after_s = retry_after_s
        self._known: dict[uuid.UUID, _Known] = {}
        self._pending: dict[uuid.UUID, Received] = {}
        self._pools: dict[uuid.UUID, list[PoolReport]] = {}
        self._lock = threading.Lock()
        self.started_at = utcnow()
        self.flushed_at: datetime | None = None
        self.received = 0
        self.written = 0

    async def accept(self, *, host_id: uuid.UUID, credential: str, beat: Heartbeat) -> HeartbeatAck:
        """Check the host's credential and keep its report; 401 for a wrong one."""
        known = self._known.get(host_id)
        if known is None or not host_credential_matches(credential, known.credential_hash):
            known = await self._look_up(host_id, known)
            if known is None or not host_credential_matches(credential, known.credential_hash):
                raise Unauthorized(
                    "unknown host or wrong host credential", code="invalid_host_credential"
                )
        with self._lock:
            self._pending[host_id] = Received(beat=beat, at=utcnow())
        self.received += 1
        # The state the host has once this report is written.
        report = rule(Transition.REPORT)
        state = report.to if known.state in report.allowed else known.state
        return HeartbeatAck(host_state=state.value)

    @property
    def pending(self) -> int:
        """Heartbeats taken but not yet written."""
        return len(self._pending)

    def forget(self, host_id: uuid.UUID) -> None:
        """A host was removed: drop what is known and pending of it."""
        with self._lock:
            self._known.pop(host_id, None)
            self._pending.pop(host_id, None)
            self._pools.pop(host_id, None)

    def flush(self) -> int:
        """Write every pending heartbeat and this process's row; how many were written."""
        with self._lock:
            batch, self._pending = self._pending, {}
        taken_at = utcnow()
        changed = {h for h, r in batch.items() if r.beat.pools != self._pools.get(h)}
        try:
            with self.write_scope() as session:
                states = record(session, batch, pools_changed=changed) if batch else {}
                ProcessRepository(session).save(self._row(taken_at))
        except Exception:
            self._put_back(batch)
            raise
        self._written(batch, states, changed)
        self.flushed_at = taken_at
        return len(states)

    def listening_since(self) -> datetime:
        """Since when this process hears heartbeats without being overloaded."""
        overloaded = self._lag.overloaded_at
        if overloaded is None:
            return self.started_at
        return max(self.started_at, datetime.fromtimestamp(overloaded, UTC))

    def _row(self, taken_at: datetime) -> VrmProcess:
        return VrmProcess(
            name=self.process,
            started_at=self.started_at,
            listening_since=self.listening_since(),
            flushed_at=taken_at,
            seen_at=utcnow(),
        )

    def _written(
        self,
        batch: dict[uuid.UUID, Received],
        states: dict[uuid.UUID, HostState],
        changed: set[uuid.UUID],
    ) -> None:
        """After the commit: remember states and pools; hosts gone are forgotten."""
        for host_id, received in batch.items():
            state = states.get(host_id)
            if state is None:
                self.forget(host_id)
                continue
            known = self._known.get(host_id)
            if known is not None:
                known.state = state
            if host_id in changed:
                self._pools[host_id] = received.beat.pools
        self.written += len(states)

    def _put_back(self, batch: dict[uuid.UUID, Received]) -> None:
        """A failed flush: its heartbeats wait for the next one (newer reports win)."""
        with self._lock:
            self._pending = {**batch, **self._pending}

    async def _look_up(self, host_id: uuid.UUID, known: _Known | None) -> _Known | None:
        """The host's credential hash and state from the database (a plain read)."""
        if known is not None and time.monotonic() - known.checked_at < _RECHECK_S:
            return known
        try:
            async with self._admission.turn():
                found = await run_in_threadpool(self._read, host_id)
        except Overloaded as exc:
            self._lag.note_shed()
            raise Overloaded(exc.message, retry_after_s=self._retry_after_s) from exc
        if found is not None:
            self._known[host_id] = found
        return found

    def _read(self, host_id: uuid.UUID) -> _Known | None:
        with self.read_scope() as session:
            row = HeartbeatRepository(session).credential(host_id)
        if row is None:
            return None
        return _Known(row.credential_hash, row.state, time.monotonic())
