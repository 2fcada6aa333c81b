"""The placement queries: grouped sums per host, and as many statements for 40 hosts as for 2."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.orm import Session

from tests.factories import add_volume
from tests.vrm.scheduler.factories import (
    add_cluster,
    add_reached_datastore,
    add_rule,
    add_sized_host,
    place_vm,
)
from tests.vrm.scheduler.test_select_host import want
from vrm.models import Cluster
from vrm.models.enums import DatastoreType, ObjectState, RuleKind
from vrm.scheduler.repository import PlacementRepository
from vrm.scheduler.service import select_host


@contextmanager
def counted(engine: Engine) -> Iterator[list[str]]:
    """The SQL statements run on ``engine`` inside the block."""
    statements: list[str] = []

    def _count(*args: Any) -> None:
        statements.append(args[2])

    event.listen(engine, "before_cursor_execute", _count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", _count)


def test_usage_sums_placed_vms_per_host_without_templates(session: Session) -> None:
    cluster, other = add_cluster(session), add_cluster(session)
    a = add_sized_host(session, cluster.id, "a", cpus=16)
    add_sized_host(session, cluster.id, "b")
    add_sized_host(session, other.id, "elsewhere")
    place_vm(session, cluster.id, a.id, vcpus=2, memory_mib=1000)
    place_vm(session, cluster.id, a.id, vcpus=3, memory_mib=500)
    place_vm(session, cluster.id, a.id, vcpus=4, memory_mib=4000, is_template=True)
    views = {v.name: v for v in PlacementRepository(session).hosts(cluster.id, also=None)}
    assert set(views) == {"a", "b"}
    assert (views["a"].cpus, views["a"].used_vcpus, views["a"].used_memory_mib) == (16, 5, 1500)
    assert (views["b"].used_vcpus, views["b"].used_memory_mib) == (0, 0)


def test_datastore_free_space_is_net_of_volumes_being_created(session: Session) -> None:
    cluster = add_cluster(session)
    host = add_sized_host(session, cluster.id, "h")
    shared = add_reached_datastore(
        session, [host.id], "a-nfs", type=DatastoreType.NFS, capacity_mib=1000
    )
    local = add_reached_datastore(
        session, [host.id], "z-local", capacity_mib=10_000, allocated_mib=2_000
    )
    add_volume(session, local.id, capacity_mib=3_000, state=ObjectState.CREATING)
    add_volume(session, local.id, capacity_mib=1_000, state=ObjectState.CREATING)
    add_volume(session, local.id, capacity_mib=500, state=ObjectState.AVAILABLE)
    reached = PlacementRepository(session).datastores([host.id])
    assert [(d.id, d.free_mib, d.local) for d in reached[host.id]] == [
        (local.id, 4_000, True),
        (shared.id, 1_000, False),
    ]


def test_locking_an_unknown_cluster_finds_nothing(session: Session) -> None:
    assert PlacementRepository(session).lock_cluster(uuid.uuid4()) is None


def _fill(session: Session, cluster: Cluster, count: int) -> uuid.UUID:
    """``count`` hosts, each with a VM and a datastore; a rule naming a VM; that VM's id."""
    hosts = [add_sized_host(session, cluster.id, f"{cluster.name}-{i}") for i in range(count)]
    vms = [place_vm(session, cluster.id, h.id) for h in hosts]
    for host in hosts:
        add_reached_datastore(session, [host.id], f"{host.name}-local")
    add_rule(session, cluster.id, RuleKind.ANTI_AFFINITY, [vms[0].id, vms[-1].id])
    return vms[0].id


def test_statements_do_not_grow_with_the_number_of_hosts(session: Session, engine: Engine) -> None:
    runs = []
    for count in (2, 40):
        cluster = add_cluster(session, name=f"c{count}")
        vm_id = _fill(session, cluster, count)
        request = want(cluster, vm_id=vm_id, disk_mib={None: 10})
        with counted(engine) as statements:
            select_host(session, request=request)
        runs.append(len(statements))
    assert runs[0] == runs[1]
