"""When the agent talks to VRM: jittered heartbeats, Retry-After and backoff.

The delays are checked as distributions (bounds and spread over many draws from a
seeded generator), never by waiting.
"""

from __future__ import annotations

import random
import statistics
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from cna_agent.config import Settings
from cna_agent.protocol import EnrollResponse
from cna_agent.runtime import Agent, _retrying, first_delay, next_delay
from cna_agent.state import Identity
from cna_agent.vrm_link import VrmLink, VrmLinkError

PERIOD = 10.0
DRAWS = 2000


def draws(delay: Callable[[random.Random], float]) -> list[float]:
    rng = random.Random(1234)
    return [delay(rng) for _ in range(DRAWS)]


def test_first_heartbeat_waits_a_random_part_of_one_period() -> None:
    waits = draws(lambda rng: first_delay(PERIOD, rng))
    assert all(0 <= wait <= PERIOD for wait in waits)
    assert min(waits) < 0.1 * PERIOD
    assert max(waits) > 0.9 * PERIOD, "agents started together spread over the whole period"


def test_each_period_is_jittered_within_its_fraction() -> None:
    waits = draws(lambda rng: next_delay(PERIOD, rng, jitter=0.1, ceiling_s=30))
    assert all(9.0 <= wait <= 11.0 for wait in waits)
    assert min(waits) < 9.1
    assert max(waits) > 10.9
    assert statistics.mean(waits) == pytest.approx(PERIOD, abs=0.1)


def test_no_jitter_is_the_exact_period() -> None:
    assert next_delay(PERIOD, random.Random(), jitter=0.0, ceiling_s=30) == PERIOD


@pytest.mark.parametrize("retry_after", [0.0, 3.0, 45.0])
def test_retry_after_is_never_shortened_and_spread_over_a_period(retry_after: float) -> None:
    waits = draws(
        lambda rng: next_delay(
            PERIOD, rng, jitter=0.1, ceiling_s=30, failures=4, retry_after=retry_after
        )
    )
    assert all(retry_after <= wait <= retry_after + PERIOD for wait in waits)
    spread = max(waits) - min(waits)
    assert spread > PERIOD * 0.9, "agents told the same Retry-After come back over a period"


@pytest.mark.parametrize(("failures", "cap"), [(1, 10.0), (2, 20.0), (3, 30.0), (10, 30.0)])
def test_failures_back_off_exponentially_with_full_jitter(failures: int, cap: float) -> None:
    waits = draws(lambda rng: next_delay(PERIOD, rng, jitter=0.1, ceiling_s=30, failures=failures))
    assert all(0 <= wait <= cap for wait in waits)
    assert min(waits) < 0.05 * cap
    assert max(waits) > 0.95 * cap
    assert statistics.mean(waits) == pytest.approx(cap / 2, rel=0.1)


def test_a_long_outage_stays_at_the_ceiling() -> None:
    wait = next_delay(PERIOD, random.Random(5), jitter=0.1, ceiling_s=30, failures=100_000)
    assert 0 <= wait <= 30


def enrolled_answer() -> EnrollResponse:
    return EnrollResponse(
        host_id=uuid.uuid4(),
        cluster_id=uuid.uuid4(),
        host_credential="cnah_x",
        vrm_credential="cnav_x",
    )


def test_enrollment_retries_honour_retry_after() -> None:
    errors = iter(
        [
            VrmLinkError("busy", retryable=True, retry_after=4.0),
            VrmLinkError("down", retryable=True),
        ]
    )

    def call() -> EnrollResponse:
        error = next(errors, None)
        if error is not None:
            raise error
        return enrolled_answer()

    slept: list[float] = []
    _retrying(call, 60, random.Random(3), slept.append)
    assert len(slept) == 2
    assert 4.0 <= slept[0] <= 5.0
    assert 0.0 <= slept[1] <= 2.0, "the second failure in a row: up to twice the first step"


def test_enrollment_gives_up_on_a_final_refusal_or_past_its_deadline() -> None:
    def refuse() -> EnrollResponse:
        raise VrmLinkError("token used", retryable=False)

    def busy() -> EnrollResponse:
        raise VrmLinkError("busy", retryable=True, retry_after=120.0)

    slept: list[float] = []
    for call in (refuse, busy):
        with pytest.raises(VrmLinkError):
            _retrying(call, 60, random.Random(), slept.append)
    assert slept == []


# -- the heartbeat round, against a VRM faked with MockTransport ---------------------


@pytest.fixture
def answers() -> list[httpx.Response]:
    """What the fake VRM answers to the next heartbeats, in order; then it is unreachable."""
    return []


@pytest.fixture
def agent(tmp_path: Path, answers: list[httpx.Response]) -> Iterator[Agent]:
    def handler(request: httpx.Request) -> httpx.Response:
        if not answers:
            raise httpx.ConnectError("connection refused", request=request)
        return answers.pop(0)

    settings = Settings(libvirt_uri="test:///default", state_dir=tmp_path, heartbeat_s=PERIOD)
    link = VrmLink(transport=httpx.MockTransport(handler))
    agent = Agent(settings, link=link, rng=random.Random(7))
    agent.identity = Identity(
        vrm_url="http://vrm.test",
        host_id=uuid.uuid4(),
        cluster_id=uuid.uuid4(),
        host_credential="cnah_x",
        vrm_credential_sha256="0" * 64,
    )
    yield agent
    agent.stop()
    assert link.closed, "stopping the agent closes its link to VRM"


def test_heartbeat_rounds_count_failures_and_carry_retry_after(
    agent: Agent, answers: list[httpx.Response]
) -> None:
    answers += [
        httpx.Response(503, headers={"Retry-After": "12"}, json={"error": {}}),
        httpx.Response(500, text="oops"),
        httpx.Response(200, json={"host_state": "normal"}),
    ]
    assert agent.beat(0) == (1, 12.0)
    assert agent.beat(1) == (2, None)
    assert agent.beat(2) == (0, None)
    assert answers == []


def test_an_unreachable_vrm_is_a_failed_round_without_retry_after(agent: Agent) -> None:
    assert agent.beat(0) == (1, None)
    assert agent.beat(1) == (2, None)
