"""Host weights: among the hosts that pass every filter, which one the VM goes to.

The cluster's ``placement_policy`` decides:

- ``spread``: the most free memory (as a share of the host's capacity), then the lowest
  CPU load, then the fewest vCPUs placed: VMs land on the emptiest hosts.
- ``pack``: the opposite, best fit: the least free memory (MiB) that still fits, then the
  most vCPUs placed, then the highest CPU load: few hosts fill up, the others stay free.

Ties are broken by host id, so the same inventory always gives the same answer.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence

from vrm.models.enums import PlacementPolicy
from vrm.scheduler.views import HostView, PlacementContext, free_memory_fraction, free_memory_mib

SortKey = tuple[float, float, float, uuid.UUID]


def spread_key(host: HostView, ctx: PlacementContext) -> SortKey:
    """Smaller is better when spreading."""
    return (-free_memory_fraction(host, ctx), host.cpu_percent, host.used_vcpus, host.id)


def pack_key(host: HostView, ctx: PlacementContext) -> SortKey:
    """Smaller is better when packing."""
    return (free_memory_mib(host, ctx), -host.used_vcpus, -host.cpu_percent, host.id)


_KEYS: dict[PlacementPolicy, Callable[[HostView, PlacementContext], SortKey]] = {
    PlacementPolicy.SPREAD: spread_key,
    PlacementPolicy.PACK: pack_key,
}


def ranked(hosts: Sequence[HostView], ctx: PlacementContext) -> list[HostView]:
    """The hosts, best first, under the cluster's placement policy."""
    key = _KEYS[ctx.cluster.policy]
    return sorted(hosts, key=lambda host: key(host, ctx))


def best(hosts: Sequence[HostView], ctx: PlacementContext) -> HostView:
    """The best of ``hosts`` (which must not be empty) under the cluster's policy."""
    key = _KEYS[ctx.cluster.policy]
    return min(hosts, key=lambda host: key(host, ctx))
