"""Hosts' placed vCPUs and memory follow their VMs through every kind of change."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.factories import add_host, add_vm
from vrm.models import Cluster, Host, Vm
from vrm.sites.repository import DEFAULT_SITE_ID


def counters(session: Session, host: Host) -> tuple[int, int]:
    session.expire(host)
    return host.placed_vcpus, host.placed_memory_mib


def summed(session: Session, host: Host) -> tuple[int, int]:
    row = session.execute(
        select(
            func.coalesce(func.sum(Vm.vcpus), 0), func.coalesce(func.sum(Vm.memory_mib), 0)
        ).where(Vm.host_id == host.id, Vm.is_template.is_(False))
    ).one()
    return int(row[0]), int(row[1])


def test_counters_follow_placement_resize_move_template_and_delete(session: Session) -> None:
    cluster = Cluster(site_id=DEFAULT_SITE_ID, name=f"c-{uuid.uuid4().hex[:6]}")
    session.add(cluster)
    session.commit()
    a, b = add_host(session, cluster.id), add_host(session, cluster.id)
    vm1, vm2 = add_vm(session, cluster.id), add_vm(session, cluster.id)
    assert counters(session, a) == (0, 0), "unplaced VMs take nothing"

    vm1.host_id, vm2.host_id = a.id, a.id
    session.commit()
    assert counters(session, a) == (2, 1024)

    vm1.vcpus, vm1.memory_mib = 2, 1024
    session.commit()
    assert counters(session, a) == (3, 1536)

    vm2.host_id = b.id
    session.commit()
    assert counters(session, a) == (2, 1024)
    assert counters(session, b) == (1, 512)

    vm1.is_template = True
    session.commit()
    assert counters(session, a) == (0, 0), "templates take nothing"

    placed = Vm(
        cluster_id=cluster.id,
        name="born-placed",
        host_id=b.id,
        vcpus=4,
        max_vcpus=4,
        memory_mib=2048,
        max_memory_mib=2048,
    )
    session.add(placed)
    session.commit()
    assert counters(session, b) == (5, 2560)

    session.delete(vm2)
    session.delete(placed)
    session.commit()
    assert counters(session, b) == (0, 0)
    for host in (a, b):
        assert counters(session, host) == summed(session, host)


def test_a_rolled_back_change_leaves_the_counters(session: Session) -> None:
    cluster = Cluster(site_id=DEFAULT_SITE_ID, name=f"c-{uuid.uuid4().hex[:6]}")
    session.add(cluster)
    session.commit()
    host = add_host(session, cluster.id)
    vm = add_vm(session, cluster.id)
    vm.host_id = host.id
    session.commit()
    vm.vcpus = 2
    session.flush()
    assert counters(session, host) == (2, 512)
    session.rollback()
    assert counters(session, host) == (1, 512)


def test_a_migration_claims_its_target_until_the_move_or_its_end(session: Session) -> None:
    cluster = Cluster(site_id=DEFAULT_SITE_ID, name=f"c-{uuid.uuid4().hex[:6]}")
    session.add(cluster)
    session.commit()
    source, target = add_host(session, cluster.id), add_host(session, cluster.id)
    moving, failing = add_vm(session, cluster.id), add_vm(session, cluster.id)
    for vm in (moving, failing):
        vm.host_id, vm.migration_target_host_id = source.id, target.id
    session.commit()
    assert counters(session, source) == (2, 1024)
    assert counters(session, target) == (2, 1024), "both hosts hold room while VMs move"

    moving.host_id, moving.migration_target_host_id = target.id, None  # it arrived
    failing.migration_target_host_id = None  # it stayed
    session.commit()
    assert counters(session, source) == (1, 512)
    assert counters(session, target) == (1, 512)
    assert counters(session, source) == summed(session, source)
    assert counters(session, target) == summed(session, target)
