"""VRM under load, as a real process on both backends: bursts are answered, never hang."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import BACKENDS
from tests.e2e.burst import ANSWERS, burst, enroll_hosts
from tests.e2e.processes import ADMIN_PASSWORD, Process, start_vrm
from tests.pgserver import create_database


@pytest.fixture(params=BACKENDS)
def busy_vrm(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Process]:
    """A VRM process on a fresh database of each backend."""
    settings = {}
    if request.param == "postgresql":
        server: str = request.getfixturevalue("postgres_url")
        name = f"vrm_load_{uuid.uuid4().hex[:8]}"
        settings["VRM_DATABASE_URL"] = create_database(server, name)
    proc = start_vrm(tmp_path, **settings)
    try:
        yield proc
    finally:
        proc.stop()


@contextlib.asynccontextmanager
async def _admin(url: str, clients: int) -> AsyncIterator[httpx.AsyncClient]:
    """An admin client with room for ``clients`` concurrent requests."""
    limits = httpx.Limits(max_connections=clients + 10, max_keepalive_connections=clients + 10)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:
        token = await client.post(
            "/api/v1/auth/token", data={"username": "admin", "password": ADMIN_PASSWORD}
        )
        client.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
        yield client


def test_a_burst_of_200_clients_is_answered_and_leaves_vrm_responsive(busy_vrm: Process) -> None:
    async def scenario() -> None:
        async with _admin(busy_vrm.url, 200) as client:
            cluster = (await client.post("/api/v1/clusters", json={"name": "burst"})).json()
            hosts = await enroll_hosts(client, cluster["id"], 3)
            outcome = await burst(
                client, cluster_id=cluster["id"], hosts=hosts, clients=200, duration_s=10
            )
            assert outcome.errors == {}, f"requests without an answer: {outcome.errors}"
            assert set(outcome.statuses) <= ANSWERS, outcome.statuses
            assert outcome.statuses[200] > 0
            assert outcome.without_retry_after == 0, "every 503 says when to come back"
            started = time.monotonic()
            after = await client.get("/api/v1/clusters")
            assert after.status_code == 200
            assert time.monotonic() - started < 5, "VRM answers at once after the burst"

    asyncio.run(scenario())
    log = busy_vrm.output()
    assert "Traceback" not in log, log[-3000:]
