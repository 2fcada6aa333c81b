"""choose() on plain views: the best host that passes, datastores read only for the best."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import replace

import pytest

from tests.vrm.scheduler.builders import CLUSTER, ctx, host, request
from vrm.models.enums import HostState, PlacementPolicy
from vrm.scheduler import filters
from vrm.scheduler.interface import NoValidHost
from vrm.scheduler.service import choose
from vrm.scheduler.views import DatastoreView, HostView


class Loader:
    """Datastores per host, as the repository would give them; records each batch asked."""

    def __init__(self, stores: Mapping[uuid.UUID, tuple[DatastoreView, ...]]) -> None:
        self.stores = stores
        self.batches: list[int] = []

    def __call__(self, host_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[DatastoreView]]:
        self.batches.append(len(host_ids))
        return {h: list(self.stores.get(h, ())) for h in host_ids}


def local(free_mib: int) -> tuple[DatastoreView, ...]:
    return (DatastoreView(id=uuid.uuid4(), name="local", free_mib=free_mib),)


def ladder(count: int) -> list[HostView]:
    """Hosts whose free memory decreases with their number: h00 is spread's favourite."""
    return [host(f"h{i:02d}", used_memory_mib=i * 64) for i in range(count)]


def test_without_disks_no_datastore_is_read() -> None:
    hosts = ladder(5)
    loader = Loader({})
    assert choose(hosts, request=request(), ctx=ctx(*hosts), load_datastores=loader) is hosts[0]
    assert loader.batches == []


def test_datastores_are_read_for_the_best_hosts_first() -> None:
    hosts = ladder(100)
    loader = Loader({h.id: local(10_000 if h.name == "h20" else 10) for h in hosts})
    chosen = choose(
        hosts, request=request(disk_mib={None: 100}), ctx=ctx(*hosts), load_datastores=loader
    )
    assert chosen.name == "h20"
    assert chosen.datastores == loader.stores[chosen.id]
    assert loader.batches == [8, 64]


def test_when_no_datastore_has_room_every_host_gets_its_reason() -> None:
    hosts = [*ladder(30), host("down", state=HostState.FAULT)]
    loader = Loader({h.id: local(10) for h in hosts})
    with pytest.raises(NoValidHost) as caught:
        choose(
            hosts, request=request(disk_mib={None: 100}), ctx=ctx(*hosts), load_datastores=loader
        )
    reasons = caught.value.details["hosts"]
    assert len(reasons) == 31
    assert reasons["h07"] == "datastore: local needs 100 MiB, 10 MiB free"
    assert reasons["down"] == "state: host is fault, only normal hosts take VMs"
    assert loader.batches == [8, 22]


@pytest.mark.parametrize("policy", list(PlacementPolicy))
def test_the_outcome_matches_running_every_filter_on_every_host(policy: PlacementPolicy) -> None:
    hosts = [
        host("full", used_memory_mib=8192),
        host("busy-cpu", used_vcpus=8),
        host("down", state=HostState.FAULT),
        host("small-disk"),
        host("fits-a", used_memory_mib=1024),
        host("fits-b", used_memory_mib=4096),
    ]
    stores = {h.id: local(50 if h.name == "small-disk" else 5_000) for h in hosts}
    context = ctx(*hosts, cluster=replace(CLUSTER, policy=policy))
    req = request(disk_mib={None: 100})
    full = {
        h.name: filters.first_failure(replace(h, datastores=stores[h.id]), req, context)
        for h in hosts
    }
    chosen = choose(hosts, request=req, ctx=context, load_datastores=Loader(stores))
    assert full[chosen.name] is None
    assert {name for name, reason in full.items() if reason is None} == {"fits-a", "fits-b"}
    assert chosen.name == ("fits-a" if policy is PlacementPolicy.SPREAD else "fits-b")


def test_applicable_drops_only_filters_that_cannot_refuse() -> None:
    plain = filters.applicable(request(), ctx())
    assert plain == (filters.cluster, filters.host_state, filters.vcpus, filters.memory)
    every = request(host_id=uuid.uuid4(), exclude=(uuid.uuid4(),), port_group_ids=(uuid.uuid4(),))
    assert filters.requested_host in filters.applicable(every, ctx())
    assert filters.excluded in filters.applicable(every, ctx())
    assert filters.port_groups in filters.applicable(every, ctx())
