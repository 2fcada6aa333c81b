"""The event loop's lateness decides whether VRM is overloaded."""

from __future__ import annotations

import asyncio
import time

from vrm.load import lag as lag_module
from vrm.load.lag import LoopLag


def test_late_samples_mark_an_overload_that_holds_a_while() -> None:
    lag = LoopLag(limit_s=0.5)
    lag.sample(0.1)
    assert not lag.overloaded
    assert lag.overloaded_at is None
    lag.sample(0.7)
    assert lag.overloaded
    assert lag.overloaded_at is not None
    assert lag.max_lag_s == 0.7
    lag.sample(0.0)
    assert lag.overloaded, "an overload holds until the backlog could drain"


def test_overload_ends_after_the_hold(monkeypatch: object) -> None:
    lag = LoopLag(limit_s=0.5)
    lag.note_shed()
    assert lag.shed == 1
    lag._overloaded_mono = time.monotonic() - lag_module.HOLD_S - 0.01
    assert not lag.overloaded


def test_a_blocked_loop_is_measured() -> None:
    async def scenario() -> LoopLag:
        lag = LoopLag(limit_s=0.05)
        lag.start()
        await asyncio.sleep(lag_module.SAMPLE_S / 2)
        time.sleep(0.3)  # the loop cannot run while this blocks it
        await asyncio.sleep(lag_module.SAMPLE_S * 2)
        await lag.stop()
        return lag

    lag = asyncio.run(scenario())
    assert lag.max_lag_s >= 0.15
    assert lag.overloaded_at is not None
