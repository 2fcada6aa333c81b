"""How late VRM's event loop runs: the measure of whether VRM itself keeps up.

Everything a request does before it reaches a thread (accepting it, parsing it, and all
of a heartbeat) runs on the event loop, so a late loop means requests queue unseen.
Beyond ``VRM_OVERLOAD_LAG_S`` VRM counts as overloaded: it sheds heartbeats, and the
time does not count towards any host's silence (see ``vrm.agents.listening``).
"""

from __future__ import annotations

import asyncio
import contextlib
import time

# How often the loop is sampled, and how long VRM stays "overloaded" after a late sample
# (so shedding does not flap while a backlog drains).
SAMPLE_S = 0.1
HOLD_S = 1.0


class LoopLag:
    """Samples the event loop's lateness and remembers the last overload."""

    def __init__(self, limit_s: float) -> None:
        self.limit_s = limit_s
        self.lag_s = 0.0
        self.max_lag_s = 0.0
        self.shed = 0
        # Wall-clock time of the last moment VRM was overloaded (None: never).
        self.overloaded_at: float | None = None
        self._overloaded_mono = -HOLD_S
        self._task: asyncio.Task[None] | None = None

    @property
    def overloaded(self) -> bool:
        """Whether VRM is behind now (or was, less than ``HOLD_S`` ago)."""
        return time.monotonic() - self._overloaded_mono < HOLD_S

    def note_overload(self) -> None:
        """Something could not be served in time (a late loop, a shed heartbeat)."""
        self._overloaded_mono = time.monotonic()
        self.overloaded_at = time.time()

    def note_shed(self) -> None:
        """A heartbeat was turned away."""
        self.shed += 1
        self.note_overload()

    def sample(self, lag_s: float) -> None:
        """Record one measured lateness."""
        self.lag_s = lag_s
        self.max_lag_s = max(self.max_lag_s, lag_s)
        if lag_s > self.limit_s:
            self.note_overload()

    def start(self) -> None:
        """Start sampling on the running loop."""
        self._task = asyncio.get_running_loop().create_task(self._run(), name="vrm-loop-lag")

    async def stop(self) -> None:
        """Stop sampling."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            start = loop.time()
            await asyncio.sleep(SAMPLE_S)
            self.sample(loop.time() - start - SAMPLE_S)
