"""Host order under the spread and pack policies, ties broken by host id."""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any

from tests.vrm.scheduler.builders import CLUSTER, ctx, host
from vrm.models.enums import PlacementPolicy
from vrm.scheduler.views import HOST_RESERVED_MIB, HostView, PlacementContext
from vrm.scheduler.weights import best, ranked

SPREAD = ctx(cluster=replace(CLUSTER, policy=PlacementPolicy.SPREAD))
PACK = ctx(cluster=replace(CLUSTER, policy=PlacementPolicy.PACK))


def names(hosts: list[HostView]) -> list[str]:
    return [h.name for h in hosts]


def sized(name: str, guest_mib: int, used_mib: int, **changes: Any) -> HostView:
    """A host with ``guest_mib`` for guests, ``used_mib`` of it placed."""
    h = host(name, memory_mib=guest_mib + HOST_RESERVED_MIB, used_memory_mib=used_mib)
    return replace(h, **changes)


def order(hosts: list[HostView], context: PlacementContext) -> list[str]:
    result = names(ranked(hosts, context))
    assert best(hosts, context).name == result[0]
    return result


def test_spread_prefers_the_largest_free_share_of_memory() -> None:
    # big: 32 GiB free of 64 (50 %); small: 6 of 8 (75 %); full: 1 of 8.
    hosts = [
        sized("big", 65536, 32768),
        sized("full", 8192, 7168),
        sized("small", 8192, 2048),
    ]
    assert order(hosts, SPREAD) == ["small", "big", "full"]


def test_spread_breaks_ties_by_cpu_load_then_vcpus_then_id() -> None:
    busy = sized("busy", 8192, 0, cpu_percent=80.0)
    idle_many = sized("idle-many", 8192, 0, cpu_percent=5.0, used_vcpus=6)
    idle_few = sized("idle-few", 8192, 0, cpu_percent=5.0, used_vcpus=1)
    assert order([busy, idle_many, idle_few], SPREAD) == ["idle-few", "idle-many", "busy"]


def test_ties_are_broken_by_host_id() -> None:
    ids = sorted(uuid.uuid4() for _ in range(3))
    hosts = [sized(f"h{i}", 8192, 0, id=ident) for i, ident in reversed(list(enumerate(ids)))]
    assert order(hosts, SPREAD) == ["h0", "h1", "h2"]
    assert order(hosts, PACK) == ["h0", "h1", "h2"]


def test_pack_prefers_the_least_free_memory() -> None:
    hosts = [
        sized("big", 65536, 32768),
        sized("full", 8192, 7168),
        sized("small", 8192, 2048),
    ]
    assert order(hosts, PACK) == ["full", "small", "big"]


def test_pack_breaks_ties_by_most_vcpus_then_cpu_load() -> None:
    few = sized("few", 8192, 4096, used_vcpus=1, cpu_percent=90.0)
    many_idle = sized("many-idle", 8192, 4096, used_vcpus=4, cpu_percent=1.0)
    many_busy = sized("many-busy", 8192, 4096, used_vcpus=4, cpu_percent=50.0)
    assert order([few, many_idle, many_busy], PACK) == ["many-busy", "many-idle", "few"]
