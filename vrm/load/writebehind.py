"""Write-behind: what requests only noted in memory, written by one thread in short batches."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

log = logging.getLogger(__name__)


class WriteBehind:
    """A daemon thread that writes what requests only noted in memory, every interval."""

    def __init__(self, flushes: Sequence[Callable[[], object]], interval_s: float) -> None:
        self._flushes = flushes
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="vrm-write-behind", daemon=True)

    def start(self) -> None:
        """Start the thread."""
        self._thread.start()

    def stop(self) -> None:
        """Write what is left, then stop."""
        self._stop.set()
        self._thread.join(timeout=30)
        self.run_once()

    def run_once(self) -> None:
        """Run every flush once; a failing one is logged and retried next time."""
        for flush in self._flushes:
            try:
                flush()
            except Exception:
                log.exception("writing %s failed; will retry", getattr(flush, "__qualname__", "?"))

    def _loop(self) -> None:
        while not self._stop.wait(self._interval_s):
            started = time.monotonic()
            self.run_once()
            took = time.monotonic() - started
            if took > self._interval_s:
                log.warning(
                    "write-behind round took %.1f s (interval %.1f s)", took, self._interval_s
                )
