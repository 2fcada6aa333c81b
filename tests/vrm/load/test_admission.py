"""Admission of database work: bounded turns, a bounded queue, a bounded wait."""

from __future__ import annotations

import asyncio

import pytest

from vrm.errors import Overloaded
from vrm.load.admission import Admission


def test_turns_are_bounded_and_given_back() -> None:
    async def scenario() -> list[int]:
        admission = Admission(turns=2, queue=10, wait_s=5)
        busy, peak = 0, []

        async def work() -> None:
            nonlocal busy
            async with admission.turn():
                busy += 1
                peak.append(busy)
                await asyncio.sleep(0.01)
                busy -= 1

        await asyncio.gather(*(work() for _ in range(10)))
        return peak

    peak = asyncio.run(scenario())
    assert len(peak) == 10, "every request got its turn"
    assert max(peak) == 2


def test_a_full_queue_refuses_at_once_with_retry_after() -> None:
    async def scenario() -> Admission:
        admission = Admission(turns=1, queue=1, wait_s=30)
        release = asyncio.Event()

        async def holder() -> None:
            async with admission.turn():
                await release.wait()

        async def waiter() -> None:
            async with admission.turn():
                pass

        tasks = [asyncio.create_task(holder())]
        await asyncio.sleep(0)
        tasks.append(asyncio.create_task(waiter()))
        await asyncio.sleep(0)
        assert admission.waiting == 1
        with pytest.raises(Overloaded) as refused:
            async with admission.turn():
                pass
        assert refused.value.retry_after_s == 1
        assert refused.value.status == 503
        release.set()
        await asyncio.gather(*tasks)
        return admission

    admission = asyncio.run(scenario())
    assert admission.refused == 1
    assert admission.waiting == 0


def test_waiting_too_long_is_refused_and_frees_its_place() -> None:
    async def scenario() -> Admission:
        admission = Admission(turns=1, queue=5, wait_s=0.05)
        async with admission.turn():
            with pytest.raises(Overloaded, match="within 0.05 s"):
                async with admission.turn():
                    pass
        async with admission.turn():  # the turn came back, the timed-out wait left no trace
            assert admission.waiting == 0
        return admission

    assert asyncio.run(scenario()).refused == 1
