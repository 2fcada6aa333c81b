"""Admission: at most ``VRM_DB_CONCURRENCY`` requests work on the database at once.

A request takes a turn on the event loop before it takes a thread or a connection, and
gives it back after its transaction ended. The connection pool and the thread pool are
larger than the number of turns, so a request holding a turn always gets both at once:
no request can wait on a resource that only a waiting request could free. Requests
beyond the turns wait in a bounded queue for a bounded time, then get 503 with
``Retry-After``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from vrm.errors import Overloaded

RETRY_AFTER_S = 1


class Admission:
    """Turns for database work, with a bounded, timed queue."""

    def __init__(self, *, turns: int, queue: int, wait_s: float) -> None:
        self.turns = turns
        self._queue = queue
        self._wait_s = wait_s
        self._free = asyncio.Semaphore(turns)
        self._waiting = 0
        self.refused = 0

    @property
    def waiting(self) -> int:
        """Requests waiting for a turn now."""
        return self._waiting

    @contextlib.asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """Hold a turn for the block; 503 ``overloaded`` when none comes in time."""
        if self._free.locked():
            await self._wait()
        else:
            await self._free.acquire()  # a free turn is taken without yielding
        try:
            yield
        finally:
            self._free.release()

    async def _wait(self) -> None:
        """Queue for a turn, if the queue has room, for at most ``wait_s``."""
        if self._waiting >= self._queue:
            self._refuse("VRM's request queue is full")
        self._waiting += 1
        try:
            await asyncio.wait_for(self._free.acquire(), self._wait_s)
        except TimeoutError:
            self._refuse(f"no turn for this request within {self._wait_s:g} s")
        finally:
            self._waiting -= 1

    def _refuse(self, why: str) -> None:
        self.refused += 1
        raise Overloaded(f"VRM is overloaded ({why}); try again", retry_after_s=RETRY_AFTER_S)
