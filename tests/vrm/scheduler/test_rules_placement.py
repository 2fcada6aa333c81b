"""Placement rules steer select_host: affinity, anti-affinity, VM-to-host; disabled rules don't."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from tests.vrm.scheduler.factories import add_cluster, add_rule, add_sized_host, place_vm
from tests.vrm.scheduler.test_select_host import rejected, want
from vrm.models import Cluster, Host
from vrm.models.enums import RuleKind
from vrm.scheduler.service import select_host


@pytest.fixture
def cluster(session: Session) -> Cluster:
    return add_cluster(session, name="rules")


@pytest.fixture
def hosts(session: Session, cluster: Cluster) -> list[Host]:
    """Three equal hosts; ``h0`` starts emptiest so spread would pick it."""
    made = [add_sized_host(session, cluster.id, f"h{i}") for i in range(3)]
    place_vm(session, cluster.id, made[1].id, memory_mib=2048)
    place_vm(session, cluster.id, made[2].id, memory_mib=2048)
    return made


def test_affinity_joins_the_placed_member(
    session: Session, cluster: Cluster, hosts: list[Host]
) -> None:
    placed = place_vm(session, cluster.id, hosts[2].id, name="web-1")
    new = place_vm(session, cluster.id, None, name="web-2")
    add_rule(session, cluster.id, RuleKind.AFFINITY, [placed.id, new.id])
    assert select_host(session, request=want(cluster, vm_id=new.id)).host.id == hosts[2].id


def test_affinity_fails_when_the_members_host_is_full(
    session: Session, cluster: Cluster, hosts: list[Host]
) -> None:
    placed = place_vm(session, cluster.id, hosts[2].id, name="web-1", memory_mib=6144)
    new = place_vm(session, cluster.id, None, name="web-2")
    rule = add_rule(session, cluster.id, RuleKind.AFFINITY, [placed.id, new.id])
    reasons = rejected(session, want(cluster, vm_id=new.id))
    together = f"affinity: rule {rule.name!r} keeps its VMs together on h2"
    assert reasons == {
        "h0": together,
        "h1": together,
        "h2": "memory: needs 1024 MiB, 0 MiB free (overcommit 1.0)",
    }


def test_anti_affinity_avoids_the_hosts_of_other_members(
    session: Session, cluster: Cluster, hosts: list[Host]
) -> None:
    first = place_vm(session, cluster.id, hosts[0].id, name="db-1")
    new = place_vm(session, cluster.id, None, name="db-2")
    rule = add_rule(session, cluster.id, RuleKind.ANTI_AFFINITY, [first.id, new.id])
    chosen = select_host(session, request=want(cluster, vm_id=new.id)).host
    assert chosen.id in {hosts[1].id, hosts[2].id}
    reasons = rejected(session, want(cluster, vm_id=new.id, host_id=hosts[0].id))
    assert reasons["h0"] == f"anti-affinity: rule {rule.name!r}: db-1 already runs here"


def test_host_must_keeps_the_vm_on_the_rule_hosts(
    session: Session, cluster: Cluster, hosts: list[Host]
) -> None:
    vm, other = place_vm(session, cluster.id, None), place_vm(session, cluster.id, None)
    add_rule(session, cluster.id, RuleKind.HOST_MUST, [vm.id], [hosts[1].id])
    assert select_host(session, request=want(cluster, vm_id=vm.id)).host.id == hosts[1].id
    assert select_host(session, request=want(cluster, vm_id=other.id)).host.id == hosts[0].id


def test_host_must_not_keeps_the_vm_off_the_rule_hosts(
    session: Session, cluster: Cluster, hosts: list[Host]
) -> None:
    vm = place_vm(session, cluster.id, None)
    rule = add_rule(session, cluster.id, RuleKind.HOST_MUST_NOT, [vm.id], [hosts[0].id])
    assert select_host(session, request=want(cluster, vm_id=vm.id)).host.id != hosts[0].id
    reasons = rejected(session, want(cluster, vm_id=vm.id, host_id=hosts[0].id))
    assert reasons["h0"] == f"host rule: rule {rule.name!r} forbids this host"


def test_disabled_rules_are_ignored(session: Session, cluster: Cluster, hosts: list[Host]) -> None:
    vm = place_vm(session, cluster.id, None)
    add_rule(session, cluster.id, RuleKind.HOST_MUST, [vm.id], [hosts[2].id], enabled=False)
    assert select_host(session, request=want(cluster, vm_id=vm.id)).host.id == hosts[0].id
