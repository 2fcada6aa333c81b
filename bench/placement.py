"""Placement benchmark: decisions per second and latency over 1,000 seeded hosts.

Seeds one cluster of ``--hosts`` hosts of varied sizes (a few faulty or in maintenance,
each with a local datastore, all reaching one shared NFS datastore, VMs already placed on
them) in a fresh database, then times ``--decisions`` placements. Each decision is what VM
creation does in one transaction, and the clock covers all of it: insert the VM row, lock
the cluster, read the hosts, filter and weigh (``select_host``), claim (set the VM's
host_id, add its disk's volume row in state ``creating``) and commit.

    .venv/bin/python -m bench.placement --db sqlite
    .venv/bin/python -m bench.placement --db postgresql            # throwaway server
    .venv/bin/python -m bench.placement --db postgresql --url postgresql+psycopg://u@h/postgres

With ``--url`` a new database is created on that server (the role needs CREATEDB) and
dropped afterwards. Results and the target are recorded in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import gc
import pstats
import random
import statistics
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, insert, text
from sqlalchemy.orm import Session, sessionmaker

from bench.databases import postgres_database, sqlite_database
from vrm.db import make_engine, make_session_factory
from vrm.migrate import upgrade
from vrm.models import Cluster, Datastore, Host, HostDatastore, Vm, Volume
from vrm.models.enums import DatastoreType, HostState, VmState
from vrm.scheduler.interface import NoValidHost, PlacementRequest
from vrm.scheduler.service import select_host
from vrm.sites.repository import DEFAULT_SITE_ID

TARGET_P99_MS = 30.0
TARGET_RATE = 100.0
CPUS = (16, 32, 48, 64, 96)
MEMORY_GIB = (64, 128, 256, 384, 512)
VM_SHAPES = ((1, 1024), (2, 2048), (2, 4096), (4, 8192), (8, 16384))
DISK_MIB = 20 * 1024
WARMUP = 20


@dataclass
class Outcome:
    """What the timed decisions gave."""

    latencies_ms: list[float] = field(default_factory=list)
    refused: int = 0
    elapsed_s: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, ms: float, placed: bool) -> None:
        """Record one decision."""
        with self.lock:
            self.latencies_ms.append(ms)
            self.refused += 0 if placed else 1


# ---------------------------------------------------------------- seeding


def _host_row(cluster_id: uuid.UUID, index: int, rng: random.Random) -> dict[str, Any]:
    roll = rng.random()
    state = HostState.FAULT if roll < 0.02 else HostState.NORMAL
    return {
        "id": uuid.uuid4(),
        "cluster_id": cluster_id,
        "name": f"bench-host-{index:04d}",
        "address": f"10.0.{index // 250}.{index % 250 + 1}",
        "agent_url": f"https://10.0.{index // 250}.{index % 250 + 1}:7070",
        "state": state,
        "maintenance": 0.02 <= roll < 0.03,
        "cpu_sockets": 2,
        "cpu_cores": rng.choice(CPUS) // 4,
        "cpu_threads": 2,
        "memory_mib": rng.choice(MEMORY_GIB) * 1024,
        "usage": {"cpu_percent": round(rng.uniform(0, 90), 1), "unknown_domains": []},
        "capabilities": {"cpus": 0},
    }


def _vm_rows(
    cluster_id: uuid.UUID, host: dict[str, Any], rng: random.Random
) -> list[dict[str, Any]]:
    """Up to a fifth of the host's memory in placed VMs."""
    rows: list[dict[str, Any]] = []
    budget = host["memory_mib"] // 5
    while True:
        vcpus, mib = rng.choice(VM_SHAPES)
        if mib > budget:
            return rows
        budget -= mib
        rows.append(_vm_row(cluster_id, host["id"], vcpus, mib, VmState.RUNNING))


def _vm_row(
    cluster_id: uuid.UUID, host_id: uuid.UUID | None, vcpus: int, mib: int, state: VmState
) -> dict[str, Any]:
    return {
        "id": uuid.uuid4(),
        "uuid": uuid.uuid4(),
        "cluster_id": cluster_id,
        "host_id": host_id,
        "name": f"vm-{uuid.uuid4().hex[:12]}",
        "vcpus": vcpus,
        "max_vcpus": vcpus,
        "memory_mib": mib,
        "max_memory_mib": mib,
        "state": state,
    }


def _datastore_rows(
    hosts: list[dict[str, Any]],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A local datastore per host and one NFS datastore all reach; and the links."""
    shared = {"id": uuid.uuid4(), "name": "bench-nfs", "type": DatastoreType.NFS}
    stores, links = [shared], []
    for host in hosts:
        local = {
            "id": uuid.uuid4(),
            "name": f"{host['name']}-local",
            "type": DatastoreType.LOCAL_DIR,
        }
        stores.append(local)
        for store in (local, shared):
            links.append(
                {"host_id": host["id"], "datastore_id": store["id"], "pool_name": store["name"]}
            )
    for store in stores:
        store |= {"site_id": DEFAULT_SITE_ID, "capacity_mib": 4 * 1024 * 1024, "allocated_mib": 0}
    return stores, links


def _cluster(session: Session) -> uuid.UUID:
    cluster = Cluster(
        site_id=DEFAULT_SITE_ID,
        name=f"bench-{uuid.uuid4().hex[:6]}",
        cpu_overcommit=4.0,
        mem_overcommit=1.5,
    )
    session.add(cluster)
    session.flush()
    return cluster.id


def seed(
    factory: sessionmaker[Session], hosts: int, clusters: int, rng: random.Random
) -> tuple[list[uuid.UUID], int]:
    """``hosts`` hosts with VMs and datastores, dealt over ``clusters`` clusters."""
    with factory() as session:
        cluster_ids = [_cluster(session) for _ in range(clusters)]
        host_rows = [_host_row(cluster_ids[i % clusters], i, rng) for i in range(hosts)]
        vm_rows = [vm for host in host_rows for vm in _vm_rows(host["cluster_id"], host, rng)]
        # A bulk insert bypasses the ORM, which keeps the hosts' placed counters: set them.
        by_id = {host["id"]: host for host in host_rows}
        for host in host_rows:
            host["placed_vcpus"] = host["placed_memory_mib"] = 0
        for vm in vm_rows:
            by_id[vm["host_id"]]["placed_vcpus"] += vm["vcpus"]
            by_id[vm["host_id"]]["placed_memory_mib"] += vm["memory_mib"]
        stores, links = _datastore_rows(host_rows)
        for model, rows in (
            (Host, host_rows),
            (Vm, vm_rows),
            (Datastore, stores),
            (HostDatastore, links),
        ):
            session.execute(insert(model), rows)
        session.commit()
        return cluster_ids, len(vm_rows)


def analyze(engine: Engine) -> None:
    """Planner statistics, as PostgreSQL's autovacuum keeps them in production."""
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("ANALYZE"))


# ---------------------------------------------------------------- decisions


def decide(factory: sessionmaker[Session], cluster_id: uuid.UUID, rng: random.Random) -> bool:
    """Place, create and claim one VM in one transaction, in the order VM creation does
    (``vrm.vms.service``); False when no host fits."""
    vcpus, mib = rng.choice(VM_SHAPES)
    with factory() as session:
        request = PlacementRequest(
            cluster_id=cluster_id, vcpus=vcpus, memory_mib=mib, disk_mib={None: DISK_MIB}
        )
        try:
            placement = select_host(session, request=request)
        except NoValidHost:
            session.rollback()
            return False
        vm = Vm(**_vm_row(cluster_id, placement.host.id, vcpus, mib, VmState.CREATING))
        datastore_id = placement.default_datastore_id
        assert datastore_id is not None
        session.add(vm)
        session.add(
            Volume(datastore_id=datastore_id, name=f"{vm.name}-disk0", capacity_mib=DISK_MIB)
        )
        session.commit()
        return True


def timed(
    factory: sessionmaker[Session], cluster_id: uuid.UUID, seed_: int, outcome: Outcome
) -> None:
    """One decision, timed from the transaction's start to after its commit."""
    rng = random.Random(seed_)
    started = time.perf_counter()
    placed = decide(factory, cluster_id, rng)
    outcome.add((time.perf_counter() - started) * 1000, placed)


def run(
    factory: sessionmaker[Session], cluster_ids: list[uuid.UUID], decisions: int, threads: int
) -> Outcome:
    """Warm up, then time ``decisions`` decisions (clusters in turn) from ``threads`` threads."""
    for i in range(WARMUP):
        decide(factory, cluster_ids[i % len(cluster_ids)], random.Random(-i))
    outcome = Outcome()
    jobs = [(cluster_ids[i % len(cluster_ids)], i) for i in range(decisions)]
    started = time.perf_counter()
    if threads == 1:  # in this thread, so that --profile sees the work
        for cluster_id, i in jobs:
            timed(factory, cluster_id, i, outcome)
    else:
        with ThreadPoolExecutor(max_workers=threads) as pool:
            futures = [pool.submit(timed, factory, c, i, outcome) for c, i in jobs]
            for future in futures:
                future.result()
    outcome.elapsed_s = time.perf_counter() - started
    return outcome


def percentile(values: list[float], share: float) -> float:
    """The ``share`` quantile (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def report(args: argparse.Namespace, vms: int, outcome: Outcome) -> bool:
    """Print the figures; whether the target is met."""
    lat = outcome.latencies_ms
    rate = len(lat) / outcome.elapsed_s
    p50, p99 = percentile(lat, 0.50), percentile(lat, 0.99)
    met = p99 <= TARGET_P99_MS and rate >= TARGET_RATE
    print(f"backend          {args.db}")
    per = args.hosts // args.clusters
    print(f"hosts            {args.hosts} in {args.clusters} cluster(s) of {per}, {vms} VMs placed")
    print(
        f"decisions        {len(lat)} timed after {WARMUP} warm-up, {args.threads} thread(s), "
        f"{outcome.refused} refused (no_valid_host)"
    )
    print(f"gc.freeze()      {'yes' if args.gc_freeze else 'no (as VRM runs today)'}")
    print(f"throughput       {rate:.0f} decisions/s")
    print(
        f"latency ms       p50 {p50:.1f}  p90 {percentile(lat, 0.9):.1f}  p99 {p99:.1f}  "
        f"max {max(lat):.1f}  mean {statistics.fmean(lat):.1f}"
    )
    print(
        f"target           p99 <= {TARGET_P99_MS:.0f} ms and >= {TARGET_RATE:.0f}/s: "
        f"{'met' if met else 'MISSED'}"
    )
    return met


def bench(url: str, args: argparse.Namespace) -> bool:
    """Migrate, seed and time on the database at ``url``."""
    engine: Engine = make_engine(url)
    try:
        upgrade(engine)
        factory = make_session_factory(engine)
        cluster_ids, vms = seed(factory, args.hosts, args.clusters, random.Random(args.seed))
        analyze(engine)
        if args.gc_freeze:
            gc.collect()
            gc.freeze()
        profiler = cProfile.Profile() if args.profile else None
        with profiler or contextlib.nullcontext():
            outcome = run(factory, cluster_ids, args.decisions, args.threads)
        if profiler is not None:
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)
        return report(args, vms, outcome)
    finally:
        engine.dispose()


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run the benchmark on a fresh database; 0 when the target is met."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--url", help="PostgreSQL server URL (default: a throwaway server)")
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--clusters", type=int, default=1, help="hosts dealt over N clusters")
    parser.add_argument("--decisions", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=1, help="concurrent placements")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--profile", action="store_true", help="cProfile the timed run")
    parser.add_argument(
        "--gc-freeze",
        action="store_true",
        help="gc.freeze() before timing: no full collections over the long-lived objects",
    )
    args = parser.parse_args(argv)
    database = sqlite_database() if args.db == "sqlite" else postgres_database(args.url)
    with database as url:
        return 0 if bench(url, args) else 1


if __name__ == "__main__":
    raise SystemExit(main())
