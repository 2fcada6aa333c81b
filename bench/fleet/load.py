"""Heartbeat load over enrolled hosts: paced like agents, or open loop at a fixed rate."""

from __future__ import annotations

import asyncio
import math
import random
import time
from array import array
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx

from cna_agent.runtime import next_delay

from .calls import API, Clients, NoAnswer, bearer, retry_after_s, send
from .config import FleetConfig, Mode
from .enroll import Fleet
from .stats import LatencySummary, Recorder, RequestStats, summarize_latency
from .wire import SimHost

# After failures other than 503/429 with Retry-After, agents back off to this many periods.
BACKOFF_PERIODS = 3.0


@dataclass(frozen=True, slots=True)
class BeatReport:
    """One heartbeat phase. ``offered`` beats were due: ``beats.count`` sent, ``dropped``
    not sent because ``max_inflight`` requests were already out (rate mode only).
    ``throttled_waits``/``backoffs`` (agents mode): waits for Retry-After, and backoffs
    after other failures. The generator's own health: ``cpu_percent`` of one core it used,
    and ``lag``, how late it woke for its beats (a high p99: short of CPU; a lone high
    max: a garbage collection)."""

    mode: Mode
    hosts: int
    duration_s: float
    cpu_percent: float
    offered: int
    dropped: int
    throttled_waits: int
    backoffs: int
    lag: LatencySummary
    beats: RequestStats
    probe: RequestStats | None


@dataclass(slots=True)
class _Phase:
    """Shared state of one phase; times on the event loop's clock."""

    clients: Clients
    config: FleetConfig
    start: float
    deadline: float
    rng: random.Random
    beats: Recorder = field(default_factory=Recorder)
    probes: Recorder = field(default_factory=Recorder)
    offered: int = 0
    dropped: int = 0
    throttled_waits: int = 0
    backoffs: int = 0
    lags_ms: array[float] = field(default_factory=lambda: array("d"))

    def now(self) -> float:
        """The loop's clock."""
        return asyncio.get_running_loop().time()

    async def wait_until(self, due: float) -> bool:
        """Sleep until ``due``; False (without sleeping) when that is past the deadline."""
        if due >= self.deadline:
            return False
        await asyncio.sleep(max(0.0, due - self.now()))
        self.lags_ms.append((self.now() - due) * 1000)
        return True


async def beat(clients: Clients, fleet: Fleet, config: FleetConfig) -> BeatReport:
    """Send heartbeats from every host of ``fleet`` for ``config.duration_s`` seconds."""
    loop = asyncio.get_running_loop()
    start, cpu_start = loop.time(), time.process_time()
    phase = _Phase(clients, config, start, start + config.duration_s, random.Random(config.seed))
    jobs = [asyncio.sleep(config.duration_s), _pace(phase, fleet.hosts)]
    if config.probe:
        jobs.append(_probe(phase, clients.probe, fleet.admin_token))
    await asyncio.gather(*jobs)
    elapsed_s = loop.time() - start
    cpu_percent = 100 * (time.process_time() - cpu_start) / elapsed_s if elapsed_s else 0.0
    return _report(phase, fleet, elapsed_s, cpu_percent)


def _report(phase: _Phase, fleet: Fleet, elapsed_s: float, cpu_percent: float) -> BeatReport:
    config = phase.config
    return BeatReport(
        mode=config.mode,
        hosts=len(fleet.hosts),
        duration_s=elapsed_s,
        cpu_percent=cpu_percent,
        offered=phase.offered,
        dropped=phase.dropped,
        throttled_waits=phase.throttled_waits,
        backoffs=phase.backoffs,
        lag=summarize_latency(phase.lags_ms),
        beats=phase.beats.stats(config.duration_s),
        probe=phase.probes.stats(config.duration_s) if config.probe else None,
    )


async def _pace(phase: _Phase, hosts: tuple[SimHost, ...]) -> None:
    """Run the phase's mode over ``hosts``."""
    if not hosts:
        return
    if phase.config.mode == Mode.AGENTS:
        await asyncio.gather(*(_agent(phase, host) for host in hosts))
    else:
        await _open_loop(phase, hosts)


async def _beat_once(phase: _Phase, host: SimHost) -> httpx.Response | NoAnswer:
    """One heartbeat of ``host``, stamped now."""
    client = phase.clients.for_host(host.index)
    content = host.body(datetime.now(UTC))
    request = client.build_request("POST", host.path, content=content, headers=host.headers)
    return await send(client, phase.beats, request, phase.config.timeout_s)


async def _agent(phase: _Phase, host: SimHost) -> None:
    """One host as its agent behaves: beat about every period, back off when told to."""
    due = phase.start + phase.rng.uniform(0, phase.config.period_s)
    failures = 0
    while await phase.wait_until(due):
        phase.offered += 1
        response = await _beat_once(phase, host)
        ok = not isinstance(response, NoAnswer) and response.is_success
        failures = 0 if ok else failures + 1
        # Like the agent, the next wait starts once this beat has ended.
        due = phase.now() + _next_delay(phase, response, failures)


def _next_delay(phase: _Phase, response: httpx.Response | NoAnswer, failures: int) -> float:
    """The wait a real agent makes (``cna_agent.runtime.next_delay``), counted by kind."""
    config = phase.config
    asked = None if isinstance(response, NoAnswer) else retry_after_s(response)
    if failures and asked is not None:
        phase.throttled_waits += 1
    elif failures:
        phase.backoffs += 1
    return next_delay(
        config.period_s,
        phase.rng,
        jitter=config.jitter,
        ceiling_s=BACKOFF_PERIODS * config.period_s,
        failures=failures,
        retry_after=asked if failures else None,
    )


async def _open_loop(phase: _Phase, hosts: tuple[SimHost, ...]) -> None:
    """``config.rate`` beats a second round-robin over ``hosts``, never waiting for answers."""
    config = phase.config
    total = math.ceil(config.duration_s * config.rate)
    inflight: set[asyncio.Task[httpx.Response | NoAnswer]] = set()
    while await phase.wait_until(phase.start + phase.offered / config.rate):
        # Everything due by now goes out: a late wake-up sends a burst, as open loop must.
        due = int((phase.now() - phase.start) * config.rate) + 1
        upto = max(min(due, total), phase.offered + 1)
        for n in range(phase.offered, upto):
            if len(inflight) >= config.max_inflight:
                phase.dropped += 1
                continue
            task = asyncio.create_task(_beat_once(phase, hosts[n % len(hosts)]))
            inflight.add(task)
            task.add_done_callback(inflight.discard)
        phase.offered = upto
    await asyncio.gather(*inflight)


async def _probe(phase: _Phase, client: httpx.AsyncClient, token: str) -> None:
    """``GET /hosts?limit=1`` every probe interval: does the API still answer?"""
    headers = bearer(token)
    interval = phase.config.probe_interval_s
    due = phase.start
    while await phase.wait_until(due):
        request = client.build_request("GET", f"{API}/hosts", params={"limit": 1}, headers=headers)
        await send(client, phase.probes, request, phase.config.timeout_s)
        # A slow answer delays the next probe rather than causing a burst.
        due = max(due + interval, phase.now())
