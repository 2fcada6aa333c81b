"""Many concurrent clients against a real VRM: reads, writes and heartbeats, all bounded."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

import httpx

from cna_agent.protocol import EnrollResponse
from tests.vrm.agents.wire import enroll_request, heartbeat

# What a client of an overloaded VRM may see.
ANSWERS = frozenset({200, 201, 202, 503})


@dataclass
class Outcome:
    """What the clients saw."""

    statuses: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    without_retry_after: int = 0
    slowest_s: float = 0.0


async def enroll_hosts(
    client: httpx.AsyncClient, cluster_id: str, count: int
) -> list[EnrollResponse]:
    """Enroll ``count`` simulated hosts through the API."""
    hosts = []
    for index in range(count):
        token = await client.post("/api/v1/enrollment-tokens", json={"cluster_id": cluster_id})
        request = enroll_request(f"burst-{uuid.uuid4().hex[:6]}", port=30_000 + index)
        answer = await client.post(
            "/api/v1/agents/enroll",
            json=request.model_dump(mode="json"),
            headers={"Authorization": f"Bearer {token.json()['token']}"},
        )
        assert answer.status_code == 201, answer.text
        hosts.append(EnrollResponse.model_validate(answer.json()))
    return hosts


def _operations(
    cluster_id: str, hosts: list[EnrollResponse]
) -> list[tuple[str, str, dict[str, object]]]:
    """One round of the mix: reads, writes and heartbeats (method, path, request args)."""
    beats = [
        (
            "POST",
            f"/api/v1/agents/{host.host_id}/heartbeat",
            {"json": heartbeat().model_dump(mode="json"), "bearer": host.host_credential},
        )
        for host in hosts[:3]
    ]
    return [
        ("GET", "/api/v1/clusters", {}),
        ("GET", "/api/v1/hosts?limit=50", {}),
        ("GET", "/api/v1/vms", {}),
        ("GET", f"/api/v1/clusters/{cluster_id}", {}),
        ("PATCH", f"/api/v1/clusters/{cluster_id}", {"json": {"description": "busy"}}),
        ("POST", "/api/v1/clusters", {"json": {"name": "new"}}),
        ("GET", "/api/v1/tasks", {}),
        *beats,
    ]


async def burst(
    client: httpx.AsyncClient,
    *,
    cluster_id: str,
    hosts: list[EnrollResponse],
    clients: int,
    duration_s: float,
) -> Outcome:
    """``clients`` concurrent loops over the mix for ``duration_s`` seconds."""
    outcome = Outcome()
    operations = _operations(cluster_id, hosts)
    deadline = time.monotonic() + duration_s

    async def loop(number: int) -> None:
        step = number
        while time.monotonic() < deadline:
            method, path, args = operations[step % len(operations)]
            step += 1
            await _one(client, outcome, method, path, dict(args))

    await asyncio.gather(*(loop(n) for n in range(clients)))
    return outcome


async def _one(
    client: httpx.AsyncClient, outcome: Outcome, method: str, path: str, args: dict[str, object]
) -> None:
    headers = {}
    bearer = args.pop("bearer", None)
    if bearer is not None:
        headers["Authorization"] = f"Bearer {bearer}"
    body = args.get("json")
    if isinstance(body, dict) and body.get("name") == "new":
        body = {"name": f"burst-{uuid.uuid4().hex[:10]}"}
    started = time.monotonic()
    try:
        response = await client.request(method, path, json=body, headers=headers)
    except httpx.HTTPError as exc:
        outcome.errors[type(exc).__name__] += 1
        return
    finally:
        outcome.slowest_s = max(outcome.slowest_s, time.monotonic() - started)
    outcome.statuses[response.status_code] += 1
    if response.status_code == 503 and "retry-after" not in response.headers:
        outcome.without_retry_after += 1
