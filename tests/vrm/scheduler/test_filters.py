"""Each placement filter on plain host views: when it passes, and the reason when it does not."""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any

import pytest

from tests.vrm.scheduler.builders import CLUSTER, SITE, VM, ctx, host, request
from vrm.models.enums import HostState, RuleKind
from vrm.scheduler import filters
from vrm.scheduler.views import (
    HOST_RESERVED_MIB,
    DatastoreView,
    RuleMember,
    RuleView,
    logical_cpus,
)


def test_a_normal_host_with_room_passes_every_filter() -> None:
    h = host()
    assert filters.first_failure(h, request(), ctx(h)) is None


@pytest.mark.parametrize("state", [HostState.CONNECTING, HostState.FAULT])
def test_only_normal_hosts_take_vms(state: HostState) -> None:
    reason = filters.host_state(host(state=state), request(), ctx())
    assert reason == f"state: host is {state.value}, only normal hosts take VMs"


@pytest.mark.parametrize("state", [HostState.MAINTAINING, HostState.MAINTENANCE])
def test_a_host_in_or_entering_maintenance_is_refused(state: HostState) -> None:
    reason = filters.host_state(host(state=state), request(), ctx())
    assert reason == "state: host is in maintenance mode"


def test_a_host_of_another_cluster_is_refused() -> None:
    other = host(cluster_id=uuid.uuid4())
    assert filters.cluster(other, request(), ctx()) == "cluster: host is not in cluster prod"
    assert filters.cluster(host(), request(), ctx()) is None


def test_excluded_hosts_are_refused() -> None:
    h = host()
    assert (
        filters.excluded(h, request(exclude=(h.id,)), ctx()) == "excluded: left out by the caller"
    )
    assert filters.excluded(h, request(exclude=(uuid.uuid4(),)), ctx()) is None


def test_a_requested_host_rules_out_the_others() -> None:
    wanted, other = host("wanted"), host("other")
    req = request(host_id=wanted.id)
    assert filters.requested_host(wanted, req, ctx(wanted, other)) is None
    reason = filters.requested_host(other, req, ctx(wanted, other))
    assert reason == "requested: the operator asked for host wanted"


def test_a_requested_host_that_fails_a_filter_names_that_filter() -> None:
    wanted = host("wanted", used_memory_mib=8192)
    reason = filters.first_failure(wanted, request(host_id=wanted.id), ctx(wanted))
    assert reason == "memory: needs 1024 MiB, 0 MiB free (overcommit 1.0)"


def test_vcpus_fit_up_to_the_logical_cpus() -> None:
    assert filters.vcpus(host(used_vcpus=6), request(vcpus=2), ctx()) is None
    reason = filters.vcpus(host(used_vcpus=7), request(vcpus=2), ctx())
    assert reason == "cpu: needs 2 vCPUs, 1 of 8 free (overcommit 1.0)"


@pytest.mark.parametrize(
    ("cpus", "ratio", "capacity"), [(8, 2.0, 16), (8, 1.5, 12), (20, 1.15, 23), (3, 1.1, 3)]
)
def test_vcpus_honour_the_cpu_overcommit_ratio(cpus: int, ratio: float, capacity: int) -> None:
    c = ctx(cluster=replace(CLUSTER, cpu_overcommit=ratio))
    assert filters.vcpus(host(cpus=cpus, used_vcpus=capacity - 1), request(), c) is None
    reason = filters.vcpus(host(cpus=cpus, used_vcpus=capacity), request(), c)
    assert reason == f"cpu: needs 1 vCPUs, 0 of {capacity} free (overcommit {ratio})"


def test_a_host_that_reports_no_cpus_takes_no_vcpus() -> None:
    assert filters.vcpus(host(cpus=0), request(), ctx()) == (
        "cpu: needs 1 vCPUs, 0 of 0 free (overcommit 1.0)"
    )


def test_memory_fits_up_to_the_host_memory_less_the_reserve() -> None:
    assert filters.memory(host(used_memory_mib=7168), request(), ctx()) is None
    reason = filters.memory(host(used_memory_mib=7168), request(memory_mib=1025), ctx())
    assert reason == "memory: needs 1025 MiB, 1024 MiB free (overcommit 1.0)"


def test_the_host_reserve_is_never_given_to_guests() -> None:
    tiny = host(memory_mib=HOST_RESERVED_MIB)
    assert filters.memory(tiny, request(memory_mib=1), ctx()) == (
        "memory: needs 1 MiB, 0 MiB free (overcommit 1.0)"
    )


def test_memory_honours_the_memory_overcommit_ratio() -> None:
    c = ctx(cluster=replace(CLUSTER, mem_overcommit=1.5))
    # (8192 + 512) x 1.5 - 512 = 12544 MiB for guests.
    assert filters.memory(host(used_memory_mib=11520), request(), c) is None
    reason = filters.memory(host(used_memory_mib=11521), request(), c)
    assert reason == "memory: needs 1024 MiB, 1023 MiB free (overcommit 1.5)"


def _store(name: str, free_mib: int, **changes: Any) -> DatastoreView:
    return replace(DatastoreView(id=uuid.uuid4(), name=name, free_mib=free_mib), **changes)


def test_disks_without_a_datastore_go_to_the_first_local_one() -> None:
    local, shared = _store("local", 4096), _store("shared", 100_000, local=False)
    h = host(datastores=(local, shared))
    assert filters.datastores(h, request(disk_mib={None: 4096}), ctx()) is None
    reason = filters.datastores(h, request(disk_mib={None: 4097}), ctx())
    assert reason == "datastore: local needs 4097 MiB, 4096 MiB free"


def test_a_host_without_datastores_cannot_take_disks() -> None:
    assert filters.datastores(host(), request(), ctx()) is None
    reason = filters.datastores(host(), request(disk_mib={None: 1}), ctx())
    assert reason == "datastore: host has no local datastore"


def test_a_named_datastore_must_be_reached_by_the_host() -> None:
    store = _store("shared", 10_000, local=False)
    elsewhere = uuid.uuid4()
    h = host(datastores=(store,))
    assert filters.datastores(h, request(disk_mib={store.id: 10_000}), ctx()) is None
    reason = filters.datastores(h, request(disk_mib={elsewhere: 1}), ctx())
    assert reason == f"datastore: host does not reach datastore {elsewhere}"


def test_an_unmounted_or_failed_datastore_is_not_available() -> None:
    store = _store("nfs", 10_000, usable=False)
    reason = filters.datastores(host(datastores=(store,)), request(disk_mib={None: 1}), ctx())
    assert reason == "datastore: nfs is not available on this host"


def test_disks_on_the_same_datastore_add_up() -> None:
    local = _store("local", 3000)
    h = host(datastores=(local,))
    assert filters.datastores(h, request(disk_mib={None: 1500, local.id: 1500}), ctx()) is None
    reason = filters.datastores(h, request(disk_mib={None: 1500, local.id: 1501}), ctx())
    assert reason == "datastore: local needs 3001 MiB, 3000 MiB free"


def test_existing_volumes_need_their_datastore_reached_not_free_space() -> None:
    full = _store("full", -500, local=False)
    h = host(datastores=(full,))
    assert filters.datastores(h, request(disk_mib={full.id: 0}), ctx()) is None
    assert filters.datastores(host(), request(disk_mib={full.id: 0}), ctx()) == (
        f"datastore: host does not reach datastore {full.id}"
    )


def test_port_groups_must_be_on_a_dvs_of_the_cluster_site() -> None:
    ours, theirs, gone = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    c = ctx(port_group_sites={ours: SITE, theirs: uuid.uuid4()})
    assert filters.port_groups(host(), request(port_group_ids=(ours,)), c) is None
    assert filters.port_groups(host(), request(port_group_ids=(ours, theirs)), c) == (
        f"network: port group {theirs} is on a DVS of another site"
    )
    assert filters.port_groups(host(), request(port_group_ids=(gone,)), c) == (
        f"network: port group {gone} does not exist"
    )


def _rule(
    kind: RuleKind, *members: RuleMember, hosts: frozenset[uuid.UUID] = frozenset()
) -> RuleView:
    return RuleView(uuid.uuid4(), "r", kind, members, hosts)


def test_affinity_keeps_the_vm_with_a_placed_member() -> None:
    h1, h2 = host("h1"), host("h2")
    rule = _rule(RuleKind.AFFINITY, RuleMember(VM, "me"), RuleMember(uuid.uuid4(), "b", h1.id))
    c = ctx(h1, h2, rules=(rule,))
    assert filters.affinity(h1, request(), c) is None
    assert filters.affinity(h2, request(), c) == "affinity: rule 'r' keeps its VMs together on h1"


def test_affinity_with_no_member_placed_allows_any_host() -> None:
    rule = _rule(RuleKind.AFFINITY, RuleMember(VM, "me"), RuleMember(uuid.uuid4(), "b"))
    assert filters.affinity(host(), request(), ctx(rules=(rule,))) is None


def test_affinity_ignores_where_the_vm_itself_runs_and_rules_not_naming_it() -> None:
    h1, h2 = host("h1"), host("h2")
    own = _rule(RuleKind.AFFINITY, RuleMember(VM, "me", h1.id), RuleMember(uuid.uuid4(), "b"))
    others = _rule(
        RuleKind.AFFINITY, RuleMember(uuid.uuid4(), "x", h1.id), RuleMember(uuid.uuid4(), "y")
    )
    assert filters.affinity(h2, request(), ctx(h1, h2, rules=(own, others))) is None
    assert filters.affinity(h2, request(vm_id=None), ctx(h1, h2, rules=(own,))) is None


def test_anti_affinity_refuses_a_host_running_another_member() -> None:
    h1, h2 = host("h1"), host("h2")
    rule = _rule(
        RuleKind.ANTI_AFFINITY, RuleMember(VM, "me", h1.id), RuleMember(uuid.uuid4(), "db-2", h2.id)
    )
    c = ctx(h1, h2, rules=(rule,))
    assert (
        filters.anti_affinity(h2, request(), c) == "anti-affinity: rule 'r': db-2 already runs here"
    )
    assert filters.anti_affinity(h1, request(), c) is None


def test_host_must_allows_only_the_rule_hosts() -> None:
    h1, h2 = host("h1"), host("h2")
    rule = _rule(RuleKind.HOST_MUST, RuleMember(VM, "me"), hosts=frozenset({h1.id}))
    c = ctx(rules=(rule,))
    assert filters.host_rules(h1, request(), c) is None
    assert filters.host_rules(h2, request(), c) == "host rule: rule 'r' allows only its 1 host(s)"


def test_host_must_not_forbids_the_rule_hosts() -> None:
    h1, h2 = host("h1"), host("h2")
    rule = _rule(RuleKind.HOST_MUST_NOT, RuleMember(VM, "me"), hosts=frozenset({h1.id}))
    c = ctx(rules=(rule,))
    assert filters.host_rules(h1, request(), c) == "host rule: rule 'r' forbids this host"
    assert filters.host_rules(h2, request(), c) is None


def test_the_first_failing_filter_is_reported() -> None:
    h = host(state=HostState.FAULT, used_memory_mib=8192, used_vcpus=8)
    assert filters.first_failure(h, request(), ctx(h)) == (
        "state: host is fault, only normal hosts take VMs"
    )


@pytest.mark.parametrize(
    ("sockets", "cores", "threads", "reported", "expected"),
    [(2, 8, 2, 4, 32), (1, 4, 1, None, 4), (0, 0, 0, 6, 6), (0, 4, 2, None, 0)],
)
def test_logical_cpus(
    sockets: int, cores: int, threads: int, reported: int | None, expected: int
) -> None:
    assert logical_cpus(sockets, cores, threads, reported) == expected
