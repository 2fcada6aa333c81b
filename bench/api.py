"""VRM under load: heartbeat ingestion and reads, against a same-box hello-world ceiling.

Starts a real ``vrm serve`` on a fresh database (SQLite or PostgreSQL), enrolls
``--hosts`` simulated agents through the API (``bench.fleet``), writes ``--vms`` VMs for
them straight into the database (``bench.vmseed``), then measures, each against a
FastAPI hello-world served by uvicorn the same way (``bench.hello``), measured in the
same run with the same client (``bench.loadgen``, ~30 µs of client CPU per request):

1. the CPU VRM spends per heartbeat (10 domains) at 100 beats/s, less its idle CPU;
2. heartbeat ingestion: rising open-loop rates until p99 > 1 s or beats are refused;
3. reads while 1,000 hosts beat every 10 s (100/s) and 20 cluster changes/s are made:
   ``GET /vms/{id}`` and ``GET /vms?limit=100`` from 8 concurrent clients;
4. DB-backed read throughput alone (``GET /vms/{id}``, 8 clients) against hello-world.

    .venv/bin/python -m bench.api --db sqlite
    .venv/bin/python -m bench.api --db postgresql            # throwaway server
    .venv/bin/python -m bench.api --db postgresql --url postgresql+psycopg://USER@HOST/postgres
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx

from bench.databases import database
from bench.fleet import Clients, Fleet, FleetConfig, Mode, beat, enroll_hosts
from bench.loadgen import Result, closed_loop, request_bytes
from bench.placement import analyze
from bench.vmseed import seed_vms
from tests.e2e.processes import ADMIN_PASSWORD, Process, free_port, start_vrm, wait_until
from vrm.db import make_engine

RATES = (100, 200, 300, 400, 500, 600, 800)
READ_CLIENTS = 8


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def hello_server() -> Iterator[str]:
    """``bench.hello`` on a free port; its URL."""
    port = free_port()
    args = [sys.executable, "-m", "bench.hello", "--port", str(port)]
    popen = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: httpx.get(url + "/hello").status_code == 200, timeout_s=30, what="hello")
        yield url
    finally:
        popen.terminate()
        popen.wait(timeout=10)


async def reads(url: str, token: str, paths: list[str], duration_s: float) -> Result:
    """Closed-loop GETs of ``paths`` (cycled from a random start) from 8 clients."""
    auth = (("Authorization", f"Bearer {token}"),)
    made = [request_bytes(url + path, headers=auth) for path in paths]
    offset = random.randrange(len(made))
    return await closed_loop(
        url,
        lambda i: made[(offset + i) % len(made)],
        connections=READ_CLIENTS,
        duration_s=duration_s,
    )


async def mutations(url: str, token: str, cluster_id: str, rate: float, duration_s: float) -> int:
    """``rate`` cluster changes per second (open loop); how many succeeded."""
    answers: list[int] = []
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        headers = {"Authorization": f"Bearer {token}"}

        async def change() -> None:
            body = {"description": f"changed at {time.time():.3f}"}
            path = f"/api/v1/clusters/{cluster_id}"
            answers.append((await client.patch(path, json=body, headers=headers)).status_code)

        pending = []
        started = time.monotonic()
        for number in range(int(rate * duration_s)):
            # On a fixed schedule: a late wake-up sends what is due, it does not drift.
            await asyncio.sleep(max(0.0, started + number / rate - time.monotonic()))
            pending.append(asyncio.create_task(change()))
        await asyncio.gather(*pending)
    return answers.count(200)


async def heartbeat_cost(
    vrm: Process, clients: Clients, fleet: Fleet, config: FleetConfig
) -> dict[str, Any]:
    """VRM CPU per heartbeat at 100/s, less what it uses idle."""
    pid, seconds = vrm.popen.pid, config.duration_s
    idle_start = cpu_seconds(pid)
    await asyncio.sleep(seconds)
    idle = cpu_seconds(pid) - idle_start
    busy_start = cpu_seconds(pid)
    report = await beat(clients, fleet, replace(config, mode=Mode.RATE, rate=100.0))
    busy = cpu_seconds(pid) - busy_start
    answered = report.beats.statuses.get(200, 0)
    return {
        "beats": answered,
        "idle_cpu_percent": round(100 * idle / seconds, 1),
        "cpu_ms_per_beat": round(1000 * (busy - idle) / max(answered, 1), 2),
        "p99_ms": report.beats.latency.p99_ms,
    }


async def ingestion(clients: Clients, fleet: Fleet, config: FleetConfig) -> list[dict[str, Any]]:
    """Open-loop heartbeat rates, rising until p99 > 1 s or beats are refused."""
    steps = []
    for rate in RATES:
        report = await beat(clients, fleet, replace(config, mode=Mode.RATE, rate=float(rate)))
        ok = report.beats.statuses.get(200, 0)
        step = {
            "offered": rate,
            "answered_200_per_s": round(ok / report.duration_s, 1),
            "refused": report.beats.count - ok,
            "dropped_by_generator": report.dropped,
            "p99_ms": report.beats.latency.p99_ms,
        }
        steps.append(step)
        print(f"  heartbeats at {rate}/s: {json.dumps(step)}", flush=True)
        if report.beats.latency.p99_ms > 1000 or ok < 0.99 * report.beats.count:
            break
        await asyncio.sleep(2)
    return steps


async def reads_under_load(
    vrm: Process, clients: Clients, fleet: Fleet, config: FleetConfig, vm_ids: list[str]
) -> dict[str, Any]:
    """Reads while the fleet beats at 100/s and 20 cluster changes/s are made."""
    seconds = config.duration_s
    background = replace(
        config, mode=Mode.AGENTS, period_s=fleet_period(fleet), duration_s=2 * seconds + 4
    )
    pages = [f"/api/v1/vms?limit=100&offset={100 * k}" for k in range(len(vm_ids) // 100)]

    async def measured() -> tuple[Result, Result]:
        await asyncio.sleep(2)
        one = await reads(vrm.url, fleet.admin_token, [f"/api/v1/vms/{i}" for i in vm_ids], seconds)
        page = await reads(vrm.url, fleet.admin_token, pages, seconds)
        return one, page

    beats, changed, (one, page) = await asyncio.gather(
        beat(clients, fleet, background),
        # In a thread of its own: the readers keep this loop busy.
        asyncio.to_thread(
            asyncio.run,
            mutations(vrm.url, fleet.admin_token, fleet.cluster_id, 20.0, 2 * seconds + 4),
        ),
        measured(),
    )
    return {
        "heartbeats": {
            "per_s": beats.beats.rate_per_s,
            "p99_ms": beats.beats.latency.p99_ms,
            "statuses": beats.beats.statuses,
        },
        "mutations_per_s": round(changed / (2 * seconds + 4), 1),
        "get_vm": one.summary(),
        "get_vms_page": page.summary(),
    }


def fleet_period(fleet: Fleet) -> float:
    """The period at which the fleet's hosts make 100 beats/s."""
    return len(fleet.hosts) / 100.0


async def run(args: argparse.Namespace, url: str, work: Path) -> dict[str, Any]:
    """Every phase against one VRM on the database at ``url``."""
    figures: dict[str, Any] = {"backend": args.db, "hosts": args.hosts, "vms": args.vms}
    with hello_server() as hello:
        # The ceiling first, on a quiet machine (no VRM, no database work yet).
        ceiling = await closed_loop(
            hello + "/hello",
            lambda i: request_bytes(hello + "/hello"),
            connections=READ_CLIENTS,
            duration_s=args.duration,
        )
        figures["hello_world"] = ceiling.summary()
        print(f"  hello-world: {json.dumps(ceiling.summary())}", flush=True)
        # The phases pause the fleet now and then: no host may turn fault meanwhile (a
        # recovery costs a task and an event, which is not what is measured here).
        vrm = start_vrm(work, VRM_DATABASE_URL=url, VRM_HOST_FAULT_AFTER="3600")
        try:
            config = FleetConfig(
                url=vrm.url,
                password=ADMIN_PASSWORD,
                hosts=args.hosts,
                cluster="bench",
                duration_s=args.duration,
                timeout_s=10.0,
            )
            async with Clients(config) as clients:
                fleet = await enroll_hosts(clients, config)
                # The VMs exist before the hosts first report them (no "unknown domain"
                # events); then every host reports once and turns normal.
                engine = make_engine(url)
                vm_ids = [str(i) for i in seed_vms(engine, fleet, args.vms // args.hosts)]
                analyze(engine)
                engine.dispose()
                warm = replace(config, mode=Mode.RATE, rate=200.0, duration_s=args.hosts / 200 + 3)
                await beat(clients, fleet, warm)
                await asyncio.sleep(3)
                print(f"seeded: {len(fleet.hosts)} hosts enrolled, {len(vm_ids)} VMs", flush=True)
                figures["heartbeat_cost"] = await heartbeat_cost(vrm, clients, fleet, config)
                print(f"  heartbeat cost: {json.dumps(figures['heartbeat_cost'])}", flush=True)
                figures["ingestion"] = await ingestion(clients, fleet, config)
                await asyncio.sleep(3)
                alone = await reads(
                    vrm.url, fleet.admin_token, [f"/api/v1/vms/{i}" for i in vm_ids], args.duration
                )
                figures["get_vm_alone"] = alone.summary()
                print(f"  GET /vms/{{id}} alone: {json.dumps(alone.summary())}", flush=True)
                figures["under_load"] = await reads_under_load(vrm, clients, fleet, config, vm_ids)
                print(f"  under load: {json.dumps(figures['under_load'])}", flush=True)
        finally:
            vrm.stop()
    return figures


def main(argv: list[str] | None = None) -> int:
    """Parse the options, run, print the figures as JSON."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--url", help="a PostgreSQL server URL (default: a throwaway server)")
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--vms", type=int, default=10_000)
    parser.add_argument("--duration", type=float, default=15.0, help="seconds per phase")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    with (
        database(args.db, args.url) as url,
        tempfile.TemporaryDirectory(prefix="vrm-bench-api-") as work,
    ):
        figures = asyncio.run(run(args, url, Path(work)))
    text = json.dumps(figures, indent=2)
    print(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
