"""Concurrent placements in one cluster never overbook a host, on SQLite and PostgreSQL.

Each thread has its own connection to a fresh database and does what VM creation does:
place a VM with select_host, set its host_id, commit. The outcome does not depend on how
the threads interleave: exactly the capacity is placed, the surplus gets NoValidHost.
"""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from tests.vrm.scheduler.factories import add_cluster, add_sized_host, guest_gib
from vrm.db import make_session_factory
from vrm.models import Vm
from vrm.scheduler.interface import NoValidHost, PlacementRequest
from vrm.scheduler.service import select_host

THREADS = 20
HOSTS = ("small-a", "small-b")
# Each host takes 4 VMs of 1 vCPU and 1 GiB: 4 CPUs and 4 GiB for guests.
PER_HOST = 4


def _seed(factory: sessionmaker[Session]) -> uuid.UUID:
    """A cluster of two small hosts; its id."""
    with factory() as session:
        cluster = add_cluster(session, name="busy")
        for name in HOSTS:
            add_sized_host(session, cluster.id, name, cpus=PER_HOST, memory_mib=guest_gib(PER_HOST))
        return cluster.id


def _new_vm(cluster_id: uuid.UUID, index: int) -> Vm:
    return Vm(
        cluster_id=cluster_id,
        name=f"vm-{index}",
        vcpus=1,
        max_vcpus=1,
        memory_mib=1024,
        max_memory_mib=1024,
    )


def _create(
    factory: sessionmaker[Session],
    cluster_id: uuid.UUID,
    index: int,
    *,
    insert_first: bool,
    start: threading.Barrier,
) -> dict[str, str] | None:
    """Create and place one VM in its own transaction; None, or NoValidHost's reasons."""
    start.wait()
    with factory() as session:
        vm = _new_vm(cluster_id, index)
        if insert_first:
            session.add(vm)
            session.flush()
        request = PlacementRequest(cluster_id=cluster_id, vcpus=1, memory_mib=1024)
        try:
            host = select_host(session, request=request).host
        except NoValidHost as exc:
            session.rollback()
            reasons: dict[str, str] = exc.details["hosts"]
            return reasons
        vm.host_id = host.id
        session.add(vm)
        session.commit()
        return None


@pytest.mark.parametrize("insert_first", [True, False], ids=["vm-row-first", "place-first"])
def test_concurrent_creates_never_overbook(fresh_engine: Engine, insert_first: bool) -> None:
    factory = make_session_factory(fresh_engine)
    cluster_id = _seed(factory)
    start = threading.Barrier(THREADS, timeout=120)
    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        futures = [
            pool.submit(_create, factory, cluster_id, i, insert_first=insert_first, start=start)
            for i in range(THREADS)
        ]
        outcomes = [f.result(timeout=300) for f in futures]

    refused = [o for o in outcomes if o is not None]
    assert len(refused) == THREADS - PER_HOST * len(HOSTS)
    for reasons in refused:
        assert set(reasons) == set(HOSTS)
        assert all(
            r == "cpu: needs 1 vCPUs, 0 of 4 free (overcommit 1.0)" for r in reasons.values()
        )
    with factory() as session:
        stmt = select(Vm.host_id, func.count(), func.sum(Vm.vcpus), func.sum(Vm.memory_mib))
        per_host = session.execute(stmt.group_by(Vm.host_id)).all()
    assert sorted((count, vcpus, mib) for _, count, vcpus, mib in per_host) == [
        (PER_HOST, PER_HOST, PER_HOST * 1024)
    ] * len(HOSTS)
