"""select_host end to end on real rows, on both database backends."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy.orm import Session

from tests.factories import add_volume
from tests.vrm.scheduler.factories import (
    add_cluster,
    add_port_group,
    add_reached_datastore,
    add_site,
    add_sized_host,
    guest_gib,
    place_vm,
)
from vrm.errors import NotFound
from vrm.models import Cluster, HostDatastore
from vrm.models.enums import DatastoreType, HostState, ObjectState, PlacementPolicy
from vrm.scheduler.interface import NoValidHost, PlacementRequest
from vrm.scheduler.service import default_datastore_id, select_host


def want(cluster: Cluster, **fields: object) -> PlacementRequest:
    """One vCPU and 1 GiB in ``cluster``, plus ``fields``."""
    base: dict[str, object] = {"cluster_id": cluster.id, "vcpus": 1, "memory_mib": 1024}
    return PlacementRequest(**{**base, **fields})  # type: ignore[arg-type]


def rejected(session: Session, request: PlacementRequest) -> dict[str, str]:
    """The per-host reasons of the NoValidHost that ``request`` must raise."""
    with pytest.raises(NoValidHost) as caught:
        select_host(session, request=request)
    assert caught.value.code == "no_valid_host"
    assert caught.value.status == 409
    hosts: dict[str, str] = caught.value.details["hosts"]
    return hosts


def test_spread_picks_the_host_with_the_largest_free_share(session: Session) -> None:
    cluster = add_cluster(session)
    busy = add_sized_host(session, cluster.id, "busy")
    idle = add_sized_host(session, cluster.id, "idle")
    half = add_sized_host(session, cluster.id, "half")
    place_vm(session, cluster.id, busy.id, memory_mib=6144)
    place_vm(session, cluster.id, half.id, memory_mib=4096)
    assert select_host(session, request=want(cluster)).host.id == idle.id


def test_pack_picks_the_fullest_host_that_still_fits(session: Session) -> None:
    cluster = add_cluster(session, policy=PlacementPolicy.PACK)
    full = add_sized_host(session, cluster.id, "full")
    almost = add_sized_host(session, cluster.id, "almost")
    add_sized_host(session, cluster.id, "idle")
    place_vm(session, cluster.id, full.id, memory_mib=8192)
    place_vm(session, cluster.id, almost.id, memory_mib=6144)
    assert select_host(session, request=want(cluster)).host.id == almost.id


def test_templates_and_unplaced_vms_take_nothing(session: Session) -> None:
    cluster = add_cluster(session)
    host = add_sized_host(session, cluster.id, "only", cpus=1, memory_mib=guest_gib(1))
    place_vm(session, cluster.id, host.id, vcpus=1, memory_mib=1024, is_template=True)
    place_vm(session, cluster.id, None, vcpus=1, memory_mib=1024)
    assert select_host(session, request=want(cluster)).host.id == host.id


def test_no_valid_host_names_every_host_and_its_first_failing_filter(session: Session) -> None:
    cluster = add_cluster(session)
    add_sized_host(session, cluster.id, "down", state=HostState.FAULT)
    add_sized_host(session, cluster.id, "resting", state=HostState.MAINTENANCE)
    small = add_sized_host(session, cluster.id, "small", cpus=1)
    full = add_sized_host(session, cluster.id, "full", memory_mib=guest_gib(2))
    place_vm(session, cluster.id, full.id, memory_mib=1024)
    place_vm(session, cluster.id, small.id, memory_mib=1024)
    assert rejected(session, want(cluster, vcpus=1, memory_mib=2048)) == {
        "down": "state: host is fault, only normal hosts take VMs",
        "resting": "state: host is in maintenance mode",
        "small": "cpu: needs 1 vCPUs, 0 of 1 free (overcommit 1.0)",
        "full": "memory: needs 2048 MiB, 1024 MiB free (overcommit 1.0)",
    }


def test_an_empty_cluster_says_so(session: Session) -> None:
    cluster = add_cluster(session, name="void")
    with pytest.raises(NoValidHost) as caught:
        select_host(session, request=want(cluster))
    assert caught.value.message == "cluster void has no hosts to place the VM on"
    assert caught.value.details == {"hosts": {}}


def test_an_unknown_cluster_is_not_found(session: Session) -> None:
    request = PlacementRequest(cluster_id=uuid.uuid4(), vcpus=1, memory_mib=1)
    with pytest.raises(NotFound):
        select_host(session, request=request)


def test_cpu_and_memory_overcommit_ratios_are_honoured(session: Session) -> None:
    cluster = add_cluster(session, cpu_overcommit=2.0, mem_overcommit=1.5)
    host = add_sized_host(session, cluster.id, "h", cpus=2, memory_mib=guest_gib(4))
    place_vm(session, cluster.id, host.id, vcpus=3, memory_mib=5120)
    # 2 CPUs x 2 = 4 vCPUs; (4096 + 512) x 1.5 - 512 = 6400 MiB for guests.
    assert select_host(session, request=want(cluster, vcpus=1, memory_mib=1280)).host.id == host.id
    assert rejected(session, want(cluster, vcpus=2)) == {
        "h": "cpu: needs 2 vCPUs, 1 of 4 free (overcommit 2.0)"
    }
    assert rejected(session, want(cluster, memory_mib=1281)) == {
        "h": "memory: needs 1281 MiB, 1280 MiB free (overcommit 1.5)"
    }


def test_each_claim_is_seen_by_the_next_placement(session: Session) -> None:
    cluster = add_cluster(session)
    for name in ("a", "b"):
        add_sized_host(session, cluster.id, name, cpus=4, memory_mib=guest_gib(2))
    placed = []
    for _ in range(4):
        host = select_host(session, request=want(cluster)).host
        placed.append(place_vm(session, cluster.id, host.id).host_id)
    assert sorted(placed.count(h) for h in set(placed)) == [2, 2]
    assert set(rejected(session, want(cluster))) == {"a", "b"}


def test_a_requested_host_is_taken_even_when_others_are_emptier(session: Session) -> None:
    cluster = add_cluster(session)
    add_sized_host(session, cluster.id, "empty")
    wanted = add_sized_host(session, cluster.id, "wanted")
    place_vm(session, cluster.id, wanted.id, memory_mib=4096)
    assert select_host(session, request=want(cluster, host_id=wanted.id)).host.id == wanted.id


def test_a_requested_host_that_fails_names_its_filter(session: Session) -> None:
    cluster = add_cluster(session)
    add_sized_host(session, cluster.id, "other")
    wanted = add_sized_host(session, cluster.id, "wanted", state=HostState.MAINTAINING)
    assert rejected(session, want(cluster, host_id=wanted.id)) == {
        "other": "requested: the operator asked for host wanted",
        "wanted": "state: host is in maintenance mode",
    }


def test_a_requested_host_of_another_cluster_or_none_at_all_is_refused(session: Session) -> None:
    cluster, elsewhere = add_cluster(session, name="here"), add_cluster(session)
    add_sized_host(session, cluster.id, "local")
    foreign = add_sized_host(session, elsewhere.id, "foreign")
    reasons = rejected(session, want(cluster, host_id=foreign.id))
    assert reasons["foreign"] == "cluster: host is not in cluster here"
    missing = uuid.uuid4()
    assert rejected(session, want(cluster, host_id=missing))[str(missing)] == (
        "requested: no such host"
    )


def test_excluded_hosts_are_skipped(session: Session) -> None:
    cluster = add_cluster(session)
    source = add_sized_host(session, cluster.id, "source")
    target = add_sized_host(session, cluster.id, "target", memory_mib=guest_gib(2))
    assert select_host(session, request=want(cluster, exclude=(source.id,))).host.id == target.id


def test_disks_go_where_the_datastore_has_room(session: Session) -> None:
    cluster = add_cluster(session)
    cramped = add_sized_host(session, cluster.id, "cramped")
    roomy = add_sized_host(session, cluster.id, "roomy", memory_mib=guest_gib(2))
    add_reached_datastore(session, [cramped.id], "cramped-local", capacity_mib=10_000)
    store = add_reached_datastore(session, [roomy.id], "roomy-local", capacity_mib=30_000)
    add_volume(session, store.id, capacity_mib=10_000, state=ObjectState.CREATING)
    add_volume(session, store.id, capacity_mib=5_000, state=ObjectState.AVAILABLE)
    placement = select_host(session, request=want(cluster, disk_mib={None: 20_000}))
    assert (placement.host.id, placement.default_datastore_id) == (roomy.id, store.id)
    assert rejected(session, want(cluster, disk_mib={None: 20_001})) == {
        "cramped": "datastore: cramped-local needs 20001 MiB, 10000 MiB free",
        "roomy": "datastore: roomy-local needs 20001 MiB, 20000 MiB free",
    }


def test_a_named_shared_datastore_must_be_reached_and_mounted(session: Session) -> None:
    cluster = add_cluster(session)
    hosts = [add_sized_host(session, cluster.id, name) for name in ("a", "b", "c")]
    shared = add_reached_datastore(
        session, [hosts[0].id, hosts[1].id], "nfs", type=DatastoreType.NFS
    )
    link = session.get(HostDatastore, (hosts[0].id, shared.id))
    assert link is not None
    link.mounted = False
    session.commit()
    assert (
        select_host(session, request=want(cluster, disk_mib={shared.id: 1})).host.id == hosts[1].id
    )
    assert rejected(session, want(cluster, disk_mib={shared.id: 100_001})) == {
        "a": "datastore: nfs is not available on this host",
        "b": "datastore: nfs needs 100001 MiB, 100000 MiB free",
        "c": f"datastore: host does not reach datastore {shared.id}",
    }


def test_the_default_datastore_is_the_first_local_one(session: Session) -> None:
    cluster = add_cluster(session)
    host = add_sized_host(session, cluster.id, "h")
    add_reached_datastore(session, [host.id], "a-shared", type=DatastoreType.NFS)
    local = add_reached_datastore(session, [host.id], "b-local")
    add_reached_datastore(session, [host.id], "c-local")
    assert default_datastore_id(session, host_id=host.id) == local.id
    assert default_datastore_id(session, host_id=uuid.uuid4()) is None


def test_port_groups_must_be_in_the_cluster_site(session: Session) -> None:
    cluster = add_cluster(session)
    add_sized_host(session, cluster.id, "h")
    ours = add_port_group(session)
    theirs = add_port_group(session, add_site(session, "far").id)
    host = select_host(session, request=want(cluster, port_group_ids=(ours.id,))).host
    assert host.name == "h"
    assert rejected(session, want(cluster, port_group_ids=(ours.id, theirs.id))) == {
        "h": f"network: port group {theirs.id} is on a DVS of another site"
    }
