"""Enrolling simulated hosts through the real API: one token and one enroll call each."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
from pydantic import ValidationError

from cna_agent.protocol import EnrollResponse

from . import wire
from .calls import (
    API,
    DEFAULT_RETRY_S,
    MAX_RETRY_S,
    THROTTLED,
    Clients,
    NoAnswer,
    bearer,
    describe,
    ensure_cluster,
    error_code,
    login,
    retry_after_s,
    send,
)
from .config import FleetConfig
from .stats import Recorder, RequestStats

JSON = {"Content-Type": "application/json"}
ENROLL_PATH = f"{API}/agents/enroll"


@dataclass(frozen=True, slots=True)
class EnrollReport:
    """How enrollment went: ``failures`` counts failed hosts by reason."""

    requested: int
    enrolled: int
    duration_s: float
    retries: int
    failures: dict[str, int]
    first_failure: str | None
    tokens: RequestStats
    enrolls: RequestStats


@dataclass(frozen=True, slots=True)
class Fleet:
    """Enrolled hosts, ready to beat, and what their enrollment took."""

    cluster_id: str
    admin_token: str
    hosts: tuple[wire.SimHost, ...]
    report: EnrollReport


class _HostFailed(Exception):
    """One host could not be enrolled; ``reason`` is the key it is counted under."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail


@dataclass(slots=True)
class _Enrolling:
    """Shared state of one enrollment round."""

    clients: Clients
    config: FleetConfig
    admin_token: str
    cluster_id: str
    gate: asyncio.Semaphore
    rng: random.Random
    tokens: Recorder = field(default_factory=Recorder)
    enrolls: Recorder = field(default_factory=Recorder)
    failures: Counter[str] = field(default_factory=Counter)
    first_failure: str | None = None
    retries: int = 0


async def enroll_hosts(
    clients: Clients, config: FleetConfig, *, admin_token: str | None = None
) -> Fleet:
    """Log in, find or create the cluster, and enroll ``config.hosts`` hosts concurrently."""
    token = admin_token or await login(clients.admin, config)
    cluster_id = await ensure_cluster(clients.admin, config, token)
    ctx = _Enrolling(
        clients=clients,
        config=config,
        admin_token=token,
        cluster_id=cluster_id,
        gate=asyncio.Semaphore(config.enroll_concurrency),
        rng=random.Random(config.seed),
    )
    started = time.perf_counter()
    results = await asyncio.gather(*(_enroll_one(ctx, i) for i in range(config.hosts)))
    hosts = tuple(h for h in results if h is not None)
    return Fleet(cluster_id, token, hosts, _report(ctx, len(hosts), time.perf_counter() - started))


def _report(ctx: _Enrolling, enrolled: int, duration_s: float) -> EnrollReport:
    return EnrollReport(
        requested=ctx.config.hosts,
        enrolled=enrolled,
        duration_s=duration_s,
        retries=ctx.retries,
        failures=dict(ctx.failures.most_common()),
        first_failure=ctx.first_failure,
        tokens=ctx.tokens.stats(duration_s),
        enrolls=ctx.enrolls.stats(duration_s),
    )


async def _enroll_one(ctx: _Enrolling, index: int) -> wire.SimHost | None:
    """Host ``index`` enrolled, or None (counted as a failure) when it could not be."""
    async with ctx.gate:
        try:
            secret = await _issue_token(ctx, index)
            return await _enroll(ctx, index, secret)
        except _HostFailed as exc:
            ctx.failures[exc.reason] += 1
            ctx.first_failure = ctx.first_failure or f"{exc.reason}: {exc.detail}"
            return None


async def _issue_token(ctx: _Enrolling, index: int) -> str:
    """A one-time enrollment token for the cluster."""
    client = ctx.clients.for_host(index)
    body = {"cluster_id": ctx.cluster_id}
    headers = bearer(ctx.admin_token)

    def build() -> httpx.Request:
        return client.build_request("POST", f"{API}/enrollment-tokens", json=body, headers=headers)

    response = await _with_retries(ctx, client, ctx.tokens, build, "token")
    try:
        return str(response.json()["token"])
    except (ValueError, KeyError, TypeError) as exc:
        raise _HostFailed("token: bad answer", describe(response)) from exc


async def _enroll(ctx: _Enrolling, index: int, secret: str) -> wire.SimHost:
    """Trade ``secret`` for a host identity, as an agent does."""
    client = ctx.clients.for_host(index)
    name = wire.hostname(ctx.config.prefix, index)
    content = wire.encode(wire.enroll_request(name, index))
    headers = {**bearer(secret), **JSON}

    def build() -> httpx.Request:
        return client.build_request("POST", ENROLL_PATH, content=content, headers=headers)

    response = await _with_retries(ctx, client, ctx.enrolls, build, "enroll")
    try:
        answer = EnrollResponse.model_validate_json(response.content)
    except ValidationError as exc:
        raise _HostFailed("enroll: bad answer", describe(response)) from exc
    return _sim_host(ctx.config, index, name, answer)


def _sim_host(config: FleetConfig, index: int, name: str, answer: EnrollResponse) -> wire.SimHost:
    return wire.SimHost(
        index=index,
        hostname=name,
        host_id=answer.host_id,
        path=f"{API}/agents/{answer.host_id}/heartbeat",
        headers={**bearer(answer.host_credential), **JSON},
        template=wire.heartbeat_template(name, config.domains),
    )


async def _with_retries(
    ctx: _Enrolling,
    client: httpx.AsyncClient,
    recorder: Recorder,
    build: Callable[[], httpx.Request],
    what: str,
) -> httpx.Response:
    """A 2xx answer to the request ``build`` makes, retried while VRM says 503/429."""
    for _ in range(ctx.config.enroll_attempts):
        response = await send(client, recorder, build(), ctx.config.timeout_s)
        if isinstance(response, NoAnswer):
            raise _HostFailed(f"{what}: {response.reason}", f"no answer ({response.reason})")
        if response.is_success:
            return response
        if response.status_code not in THROTTLED:
            reason = f"{what}: HTTP {response.status_code} {error_code(response)}".rstrip()
            raise _HostFailed(reason, describe(response))
        ctx.retries += 1
        await asyncio.sleep(_backoff(ctx, response))
    attempts = ctx.config.enroll_attempts
    raise _HostFailed(f"{what}: still throttled", f"{attempts} attempts answered 503/429")


def _backoff(ctx: _Enrolling, response: httpx.Response) -> float:
    """How long to wait after a throttled answer: its Retry-After, plus some jitter."""
    asked = retry_after_s(response)
    wait = min(DEFAULT_RETRY_S if asked is None else asked, MAX_RETRY_S)
    return wait * (1 + ctx.rng.uniform(0, ctx.config.jitter))
