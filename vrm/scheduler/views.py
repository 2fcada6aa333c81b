"""What the scheduler knows while it places one VM: plain values, no ORM objects, no SQL.

The repository builds these from a handful of grouped queries; filters and weights are
pure functions over them, so they are tested without a database.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from vrm.models.enums import HostState, PlacementPolicy, RuleKind

# Memory of every host that guests never get: the host OS, libvirtd, QEMU's own overhead
# per domain and the CNA agent. Taken off after the overcommit ratio, so overcommit never
# promises guests the memory the host itself lives on.
HOST_RESERVED_MIB = 512
# Products like 20 * 1.15 come out as 22.999999999999996; the capacity is 23.
_EPSILON = 1e-6


@dataclass(frozen=True, slots=True)
class ClusterView:
    """The cluster settings placement depends on."""

    id: uuid.UUID
    name: str
    site_id: uuid.UUID
    cpu_overcommit: float = 1.0
    mem_overcommit: float = 1.0
    policy: PlacementPolicy = PlacementPolicy.SPREAD


# Host and datastore views are built a thousand at a time per placement, and a frozen
# dataclass takes ten times longer to build; treat them as read-only all the same.
@dataclass(slots=True)
class DatastoreView:
    """A datastore as one host reaches it."""

    id: uuid.UUID
    name: str
    free_mib: int
    local: bool = True
    # Mounted on this host, and the datastore itself available (or in use).
    usable: bool = True


@dataclass(slots=True)
class HostView:
    """A host's capacity and what the VMs placed on it already take."""

    id: uuid.UUID
    name: str
    cluster_id: uuid.UUID
    cpus: int
    memory_mib: int
    state: HostState = HostState.NORMAL
    used_vcpus: int = 0
    used_memory_mib: int = 0
    cpu_percent: float = 0.0
    # Local datastores first, then by name: the first is where a disk without one goes.
    datastores: tuple[DatastoreView, ...] = ()


@dataclass(frozen=True, slots=True)
class RuleMember:
    """A VM a placement rule names, and the host it is placed on (if any)."""

    vm_id: uuid.UUID
    name: str
    host_id: uuid.UUID | None = None


@dataclass(frozen=True, slots=True)
class RuleView:
    """An enabled placement rule with its VMs and hosts."""

    id: uuid.UUID
    name: str
    kind: RuleKind
    vms: tuple[RuleMember, ...] = ()
    host_ids: frozenset[uuid.UUID] = frozenset()


@dataclass(frozen=True, slots=True)
class PlacementContext:
    """Everything besides the hosts that filters and weights consult."""

    cluster: ClusterView
    rules: tuple[RuleView, ...] = ()
    # The site of the DVS of each requested port group; absent: no such port group.
    port_group_sites: Mapping[uuid.UUID, uuid.UUID] = field(default_factory=dict)
    # Names of the hosts considered, for readable reasons.
    host_names: Mapping[uuid.UUID, str] = field(default_factory=dict)
    reserved_mib: int = HOST_RESERVED_MIB


def logical_cpus(sockets: int, cores: int, threads: int, reported: int | None) -> int:
    """Sockets x cores per socket x threads per core, or the agent's CPU count when unknown."""
    counted = sockets * cores * threads
    return counted if counted > 0 else max(reported or 0, 0)


def vcpu_capacity(host: HostView, ratio: float) -> int:
    """How many vCPUs the host may carry under the cluster's CPU overcommit ratio."""
    return math.floor(host.cpus * ratio + _EPSILON)


def memory_capacity(host: HostView, ratio: float, reserved_mib: int) -> int:
    """How much guest memory (MiB) the host may carry under the memory overcommit ratio."""
    return math.floor(host.memory_mib * ratio + _EPSILON) - reserved_mib


def free_memory_mib(host: HostView, ctx: PlacementContext) -> int:
    """Guest memory still free on the host (negative when overbooked)."""
    capacity = memory_capacity(host, ctx.cluster.mem_overcommit, ctx.reserved_mib)
    return capacity - host.used_memory_mib


def free_memory_fraction(host: HostView, ctx: PlacementContext) -> float:
    """Free guest memory as a share of the host's guest memory capacity (0 when none)."""
    capacity = memory_capacity(host, ctx.cluster.mem_overcommit, ctx.reserved_mib)
    return free_memory_mib(host, ctx) / capacity if capacity > 0 else 0.0


def default_datastore(datastores: Sequence[DatastoreView]) -> DatastoreView | None:
    """Where a disk with no datastore goes: the host's first local datastore, else its first.

    ``datastores`` are in ``HostView.datastores`` order: local ones first, then by name.
    """
    return datastores[0] if datastores else None
