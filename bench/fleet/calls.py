"""The HTTP side: the fleet's clients, timed requests, and the admin calls (login, cluster).

Every request is bounded by the timeout as a whole (not only per read), so a run always
ends; a request that fails is recorded, never raised.
"""

from __future__ import annotations

import asyncio
import math
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Self

import httpx

from cna_agent.vrm_link import retry_after_s as agent_retry_after_s

from .config import FleetConfig
from .stats import Recorder

API = "/api/v1"
# Statuses that mean "come back later" (and may carry Retry-After).
THROTTLED = frozenset({429, 503})
# Wait this long after one without Retry-After, and never longer than the cap.
DEFAULT_RETRY_S = 1.0
MAX_RETRY_S = 30.0


class FleetError(Exception):
    """The run cannot go on: login or cluster set-up failed."""


# Connections per client: see ``Clients``.
CONNECTIONS_PER_CLIENT = 8
# Connections beyond max_inflight, for admin calls made while beating.
SPARE_CONNECTIONS = 4


class Clients:
    """The fleet's HTTP clients: a few ``AsyncClient``s with small pools, hosts spread over
    them, plus one of its own for the probe.

    httpcore's pool does work proportional to its connections on every request, so one
    pool of hundreds of connections caps the generator at a few hundred requests a second;
    small pools keep every request cheap (measured: see the package docstring).
    """

    def __init__(
        self, config: FleetConfig, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        wanted = max(config.max_inflight, config.enroll_concurrency) + SPARE_CONNECTIONS
        count = math.ceil(wanted / CONNECTIONS_PER_CLIENT)
        # One TLS context for all: each client would otherwise load the CA bundle.
        tls = ssl.create_default_context()
        self._clients = tuple(
            _client(config, CONNECTIONS_PER_CLIENT, transport, tls) for _ in range(count)
        )
        self.probe = _client(config, 1, transport, tls)

    def __len__(self) -> int:
        return len(self._clients)

    @property
    def admin(self) -> httpx.AsyncClient:
        """The client for one-off admin calls."""
        return self._clients[0]

    def for_host(self, index: int) -> httpx.AsyncClient:
        """The client host ``index`` always uses."""
        return self._clients[index % len(self._clients)]

    async def aclose(self) -> None:
        """Close every connection."""
        for client in (*self._clients, self.probe):
            await client.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


def _client(
    config: FleetConfig,
    connections: int,
    transport: httpx.AsyncBaseTransport | None,
    tls: ssl.SSLContext,
) -> httpx.AsyncClient:
    """A client for ``config.url`` keeping up to ``connections`` connections open."""
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    return httpx.AsyncClient(
        base_url=config.url,
        limits=limits,
        timeout=httpx.Timeout(config.timeout_s),
        transport=transport,
        verify=tls,
        trust_env=False,
    )


@dataclass(frozen=True, slots=True)
class NoAnswer:
    """A request that got no HTTP answer: ``timeout`` or a transport error's class name."""

    reason: str


TIMED_OUT = NoAnswer("timeout")


async def send(
    client: httpx.AsyncClient, recorder: Recorder, request: httpx.Request, timeout_s: float
) -> httpx.Response | NoAnswer:
    """Send ``request`` and record how it ended: its response, or why there was none."""
    started = time.perf_counter()
    try:
        async with asyncio.timeout(timeout_s):
            response = await client.send(request)
    except (TimeoutError, httpx.TimeoutException):
        recorder.timed_out()
        return TIMED_OUT
    except httpx.HTTPError as exc:
        recorder.failed(type(exc).__name__)
        return NoAnswer(type(exc).__name__)
    recorder.answered(response.status_code, (time.perf_counter() - started) * 1000)
    return response


def bearer(token: str) -> dict[str, str]:
    """The Authorization header for ``token``."""
    return {"Authorization": f"Bearer {token}"}


def retry_after_s(response: httpx.Response) -> float | None:
    """Seconds the answer asks to wait, read as a real agent reads it."""
    return agent_retry_after_s(response.headers.get("retry-after"))


def describe(response: httpx.Response) -> str:
    """A short account of a failed answer, for messages."""
    return f"HTTP {response.status_code}: {response.text[:200]}"


def error_code(response: httpx.Response) -> str:
    """The ``error.code`` of a VRM error body, or "" when the body is not one."""
    try:
        code = response.json()["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return ""
    return code if isinstance(code, str) else ""


def field_of(response: httpx.Response, key: str, what: str) -> Any:
    """``key`` of the JSON object answered, or FleetError when it is not there."""
    try:
        return response.json()[key]
    except (ValueError, KeyError, TypeError) as exc:
        raise FleetError(f"{what}: unexpected answer {describe(response)}") from exc


async def _admin_call(
    client: httpx.AsyncClient, config: FleetConfig, build: Callable[[], httpx.Request], what: str
) -> httpx.Response:
    """The answer to an admin request, retried while VRM says 503/429; no answer ends the run."""
    for _ in range(config.enroll_attempts):
        response = await send(client, Recorder(), build(), config.timeout_s)
        if isinstance(response, NoAnswer):
            raise FleetError(f"{what}: no answer from {config.url} ({response.reason})")
        if response.status_code not in THROTTLED:
            return response
        asked = retry_after_s(response)
        await asyncio.sleep(min(DEFAULT_RETRY_S if asked is None else asked, MAX_RETRY_S))
    raise FleetError(f"{what}: {config.enroll_attempts} attempts were all answered 503/429")


async def login(client: httpx.AsyncClient, config: FleetConfig) -> str:
    """An admin access token."""
    form = {"username": config.username, "password": config.password}

    def build() -> httpx.Request:
        return client.build_request("POST", f"{API}/auth/token", data=form)

    response = await _admin_call(client, config, build, "login")
    if response.status_code != 200:
        raise FleetError(f"login as {config.username!r} failed: {describe(response)}")
    return str(field_of(response, "access_token", "login"))


async def ensure_cluster(client: httpx.AsyncClient, config: FleetConfig, token: str) -> str:
    """The id of the cluster named ``config.cluster``, created (in the default site) if need be."""
    found = await _find_cluster(client, config, token)
    if found is not None:
        return found
    body = {"name": config.cluster, "description": "hosts simulated by bench.fleet"}

    def build() -> httpx.Request:
        return client.build_request("POST", f"{API}/clusters", json=body, headers=bearer(token))

    response = await _admin_call(client, config, build, "create cluster")
    if response.status_code == 201:
        return str(field_of(response, "id", "create cluster"))
    # Someone created it meanwhile: take theirs.
    found = await _find_cluster(client, config, token) if response.status_code == 409 else None
    if found is None:
        raise FleetError(f"cannot create cluster {config.cluster!r}: {describe(response)}")
    return found


async def _find_cluster(client: httpx.AsyncClient, config: FleetConfig, token: str) -> str | None:
    params = {"name": config.cluster}

    def build() -> httpx.Request:
        return client.build_request("GET", f"{API}/clusters", params=params, headers=bearer(token))

    response = await _admin_call(client, config, build, "list clusters")
    if response.status_code != 200:
        raise FleetError(f"cannot list clusters: {describe(response)}")
    items = field_of(response, "items", "list clusters")
    if not isinstance(items, list):
        raise FleetError(f"list clusters: unexpected answer {describe(response)}")
    ids = [str(c["id"]) for c in items if isinstance(c, dict) and c.get("name") == config.cluster]
    return ids[0] if ids else None
