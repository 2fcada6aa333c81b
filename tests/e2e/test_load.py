"""VRM under load, as a real process on both backends: bursts are answered, never hang."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from bench.fleet import BeatReport, Clients, FleetConfig, Mode, beat, enroll_hosts
from tests.conftest import BACKENDS
from tests.e2e.burst import ANSWERS, burst
from tests.e2e.burst import enroll_hosts as enroll_burst_hosts
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
            hosts = await enroll_burst_hosts(client, cluster["id"], 3)
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


def _fleet(url: str, **overrides: object) -> FleetConfig:
    """A fleet of simulated agents against ``url`` (agents mode, 2 s period)."""
    settings: dict[str, object] = {
        "url": url,
        "password": ADMIN_PASSWORD,
        "period_s": 2.0,
        "timeout_s": 10.0,
        "hosts": 50,
        "duration_s": 20.0,
        **overrides,
    }
    return FleetConfig(**settings)  # type: ignore[arg-type]


def _hosts_by_state(client: httpx.Client, cluster_id: str) -> dict[str, int]:
    hosts = client.get("/hosts", params={"cluster_id": cluster_id, "limit": 1000}).json()
    states: dict[str, int] = {}
    for host in hosts["items"]:
        states[host["state"]] = states.get(host["state"], 0) + 1
    return states


def _faults(client: httpx.Client, cluster_id: str) -> list[str]:
    """The ``host_fault`` events of the hosts of a cluster."""
    hosts = client.get("/hosts", params={"cluster_id": cluster_id, "limit": 1000}).json()
    ids = {host["id"] for host in hosts["items"]}
    events = client.get("/events", params={"type": "host_fault", "limit": 1000}).json()
    return [e["message"] for e in events["items"] if e["target_id"] in ids]


@pytest.mark.vrm_env(VRM_HOST_FAULT_AFTER="10", VRM_JOBS_INTERVAL_S="0.5")
def test_fifty_simulated_agents_stay_normal(vrm: Process, admin: httpx.Client) -> None:
    config = _fleet(vrm.url, cluster="smoke")

    async def scenario() -> BeatReport:
        async with Clients(config) as clients:
            fleet = await enroll_hosts(clients, config)
            assert fleet.report.enrolled == 50
            return await beat(clients, fleet, config)

    report = asyncio.run(scenario())
    assert report.beats.only(200), report.beats
    assert report.beats.count >= 50 * 8, "every host beat every 2 s"
    cluster = admin.get("/clusters", params={"name": "smoke"}).json()["items"][0]
    assert _hosts_by_state(admin, cluster["id"]) == {"normal": 50}
    assert _faults(admin, cluster["id"]) == []


@pytest.mark.vrm_env(
    # Agents beat every 2 s; shed, they wait Retry-After (3 s) plus up to a period, so
    # a naive rule would fault any agent shed twice in a row.
    VRM_HOST_FAULT_AFTER="10",
    VRM_JOBS_INTERVAL_S="0.5",
    # The generator shares the two cores with VRM and cannot send 3x VRM's capacity; a
    # low limit makes what it can send an overload for sure, on any machine.
    VRM_OVERLOAD_LAG_S="0.02",
)
def test_overload_sheds_heartbeats_keeps_the_api_and_faults_no_host(
    vrm: Process, admin: httpx.Client
) -> None:
    agents = _fleet(vrm.url, cluster="agents", hosts=40, probe=True)
    flood = _fleet(
        vrm.url, cluster="flood", hosts=200, mode=Mode.RATE, rate=1500.0, max_inflight=300
    )

    async def scenario() -> tuple[BeatReport, BeatReport, BeatReport]:
        async with Clients(agents) as calm, Clients(flood) as busy:
            # The flood's hosts first: the agents' hosts start beating right after joining.
            busy_fleet = await enroll_hosts(busy, flood)
            calm_fleet = await enroll_hosts(calm, agents)
            warm = replace(agents, duration_s=4.0, probe=False)
            await beat(calm, calm_fleet, warm)  # every agent host is normal before the flood
            during, _ = await asyncio.gather(
                beat(calm, calm_fleet, agents), beat(busy, busy_fleet, flood)
            )
            flooded = await beat(busy, busy_fleet, replace(flood, duration_s=0.5, rate=10.0))
            await asyncio.sleep(2.0)
            after = await beat(calm, calm_fleet, replace(agents, duration_s=6.0, probe=False))
            return during, flooded, after

    during, _flooded, after = asyncio.run(scenario())
    load = admin.get("/system/load").json()
    assert load["heartbeats"]["shed"] > 0, "the flood overloaded VRM"
    assert during.probe is not None
    assert during.probe.timeouts == 0
    assert during.probe.errors == {}
    assert during.probe.statuses.get(200, 0) > 0, "the API answered during the flood"
    assert set(during.beats.statuses) <= {200, 503}
    assert during.beats.timeouts == 0
    # Taken again after the flood (a stray late tick of the loop may still shed one).
    assert after.beats.timeouts == 0
    assert after.beats.statuses.get(200, 0) >= 0.9 * after.beats.count, after.beats
    cluster = admin.get("/clusters", params={"name": "agents"}).json()["items"][0]
    assert _hosts_by_state(admin, cluster["id"]) == {"normal": 40}
    assert _faults(admin, cluster["id"]) == [], "no host turned fault while VRM could not hear"
