"""The WebUI's live updates: one poll of the database serves every open page.

While at least one page listens, the feed reads what changed since its last look
(VMs, tasks, hosts, events, alarms) every ``interval_s`` in one short read transaction
and hands each change to every listener. It reads the database, not this process's
memory, so it sees the work of every VRM process and of every worker. A row written
with a timestamp just before a concurrent commit is caught by reading a few seconds
back; what was already sent is remembered by version, so nothing is sent twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import RowMapping
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from vrm.errors import Overloaded
from vrm.load.admission import Admission
from vrm.models.base import utcnow
from vrm.web.repository import FeedRepository

log = logging.getLogger(__name__)

# How far back each look reads again: longer than any transaction between its
# timestamps and its commit.
OVERLAP = timedelta(seconds=5)
# A listener that cannot keep up with this many changes is dropped (its page reconnects).
QUEUE_SIZE = 2000

Change = tuple[str, str]  # (kind, JSON of the item)
ReadScope = Callable[[], contextlib.AbstractContextManager[Session]]


@dataclass(eq=False)
class Listener:
    """One open page's queue of changes."""

    queue: asyncio.Queue[Change | None] = field(
        default_factory=lambda: asyncio.Queue(maxsize=QUEUE_SIZE)
    )
    # Set when the feed gave up on it (too slow, or VRM stopping): its stream ends.
    dropped: bool = False


class ChangeFeed:
    """Polls for changes while anyone listens; fans them out to every listener."""

    def __init__(self, read_scope: ReadScope, admission: Admission, interval_s: float) -> None:
        self._read_scope = read_scope
        self._admission = admission
        self._interval_s = interval_s
        self._listeners: set[Listener] = set()
        self._task: asyncio.Task[None] | None = None
        self._seen: dict[tuple[str, str], datetime] = {}
        self._since = utcnow()

    def listen(self) -> Listener:
        """A new listener; the feed starts polling if it was idle."""
        listener = Listener()
        self._listeners.add(listener)
        if self._task is None or self._task.done():
            self._since = utcnow()
            self._task = asyncio.get_running_loop().create_task(self._run())
        return listener

    def leave(self, listener: Listener) -> None:
        """Forget a listener (its page closed)."""
        self._listeners.discard(listener)

    async def stop(self) -> None:
        """Stop polling and end every listener's stream."""
        for listener in list(self._listeners):
            self._drop(listener)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while self._listeners:
            try:
                changes = await self._look()
            except Overloaded:
                changes = []  # VRM is busy: the next look catches up
            except Exception:
                log.exception("the change feed could not read the database")
                changes = []
            for listener in list(self._listeners):
                self._deliver(listener, changes)
            await asyncio.sleep(self._interval_s)

    async def _look(self) -> list[Change]:
        started = utcnow()
        async with self._admission.turn():
            rows = await run_in_threadpool(self._read, self._since - OVERLAP)
        changes = list(self._new(rows))
        self._since = started
        self._forget_before(started - OVERLAP)
        return changes

    def _read(self, since: datetime) -> dict[str, Sequence[RowMapping]]:
        with self._read_scope() as session:
            repo = FeedRepository(session)
            return {
                "vm": repo.vms(since),
                "task": repo.tasks(since),
                "host": repo.hosts(since),
                "event": repo.events(since),
                "alarm": repo.alarms(since),
            }

    def _new(self, rows: dict[str, Sequence[RowMapping]]) -> Iterator[Change]:
        """The rows not sent yet in this version."""
        for kind, items in rows.items():
            for row in items:
                version = _version(row)
                key = (kind, str(row["id"]))
                if self._seen.get(key) == version:
                    continue
                self._seen[key] = version
                yield kind, json.dumps(dict(row), default=_plain, separators=(",", ":"))

    def _forget_before(self, moment: datetime) -> None:
        self._seen = {key: at for key, at in self._seen.items() if at >= moment}

    def _deliver(self, listener: Listener, changes: list[Change]) -> None:
        try:
            for change in changes:
                listener.queue.put_nowait(change)
        except asyncio.QueueFull:
            self._drop(listener)

    def _drop(self, listener: Listener) -> None:
        self._listeners.discard(listener)
        listener.dropped = True
        with contextlib.suppress(asyncio.QueueFull):
            listener.queue.put_nowait(None)  # ends its stream


def _version(row: RowMapping) -> datetime:
    """When a row last changed, as far as the feed can tell."""
    moments = [row.get(name) for name in ("updated_at", "last_heartbeat_at", "created_at")]
    known: list[datetime] = [moment for moment in moments if moment is not None]
    return max(_aware(moment) for moment in known)


def _aware(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes; every stored moment is UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=utcnow().tzinfo)


def _plain(value: object) -> str:
    """JSON for what ``json`` does not know: UUIDs, datetimes, enums."""
    if isinstance(value, datetime):
        return _aware(value).isoformat()
    return str(value)
