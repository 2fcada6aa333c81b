"""Host filters: each says why a host cannot take the VM, or None when it can.

Every filter is a pure function ``(host, request, ctx) -> str | None``. A reason starts
with the filter's name ("memory: ...") so the operator sees at once what to change.
``FILTERS`` runs them in order; the first failure is the one reported for the host.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

from vrm.hosts.states import IN_MAINTENANCE, SCHEDULABLE
from vrm.models.enums import RuleKind
from vrm.scheduler.interface import PlacementRequest
from vrm.scheduler.views import (
    DatastoreView,
    HostView,
    PlacementContext,
    RuleView,
    default_datastore,
    memory_capacity,
    vcpu_capacity,
)

Filter = Callable[[HostView, PlacementRequest, PlacementContext], str | None]


def requested_host(host: HostView, request: PlacementRequest, ctx: PlacementContext) -> str | None:
    """When the operator named a host, every other host is out."""
    if request.host_id is None or host.id == request.host_id:
        return None
    wanted = ctx.host_names.get(request.host_id, str(request.host_id))
    return f"requested: the operator asked for host {wanted}"


def host_state(host: HostView, request: PlacementRequest, ctx: PlacementContext) -> str | None:
    """Only normal hosts take new VMs (not those in or entering maintenance)."""
    if host.state in SCHEDULABLE:
        return None
    if host.state in IN_MAINTENANCE:
        return "state: host is in maintenance mode"
    return f"state: host is {host.state.value}, only normal hosts take VMs"


def cluster(host: HostView, request: PlacementRequest, ctx: PlacementContext) -> str | None:
    """A VM runs only on the hosts of its own cluster."""
    if host.cluster_id != request.cluster_id:
        return f"cluster: host is not in cluster {ctx.cluster.name}"
    return None


def excluded(host: HostView, request: PlacementRequest, ctx: PlacementContext) -> str | None:
    """Hosts the caller leaves out (the source of a migration, say)."""
    return "excluded: left out by the caller" if host.id in request.exclude else None


def vcpus(host: HostView, request: PlacementRequest, ctx: PlacementContext) -> str | None:
    """Placed vCPUs plus the new ones stay within logical CPUs x the CPU overcommit ratio."""
    ratio = ctx.cluster.cpu_overcommit
    capacity = vcpu_capacity(host, ratio)
    if host.used_vcpus + request.vcpus <= capacity:
        return None
    free = max(capacity - host.used_vcpus, 0)
    return f"cpu: needs {request.vcpus} vCPUs, {free} of {capacity} free (overcommit {ratio})"


def memory(host: HostView, request: PlacementRequest, ctx: PlacementContext) -> str | None:
    """Placed memory plus the new VM's stays within memory x overcommit, less the reserve."""
    ratio = ctx.cluster.mem_overcommit
    capacity = memory_capacity(host, ratio, ctx.reserved_mib)
    if host.used_memory_mib + request.memory_mib <= capacity:
        return None
    free = max(capacity - host.used_memory_mib, 0)
    return f"memory: needs {request.memory_mib} MiB, {free} MiB free (overcommit {ratio})"


def datastores(host: HostView, request: PlacementRequest, ctx: PlacementContext) -> str | None:
    """The host reaches every datastore the new disks go to, each with room for them."""
    if not request.disk_mib:
        return None
    reached = {d.id: d for d in host.datastores}
    needs: dict[uuid.UUID, int] = {}
    for datastore_id, mib in request.disk_mib.items():
        target = (
            default_datastore(host.datastores)
            if datastore_id is None
            else reached.get(datastore_id)
        )
        if target is None:
            return _unreached(datastore_id)
        needs[target.id] = needs.get(target.id, 0) + mib
    return next(_short_datastores(reached, needs), None)


def _unreached(datastore_id: uuid.UUID | None) -> str:
    if datastore_id is None:
        return "datastore: host has no local datastore"
    return f"datastore: host does not reach datastore {datastore_id}"


def _short_datastores(
    reached: dict[uuid.UUID, DatastoreView], needs: dict[uuid.UUID, int]
) -> Iterator[str]:
    for datastore_id, mib in needs.items():
        store = reached[datastore_id]
        if not store.usable:
            yield f"datastore: {store.name} is not available on this host"
        elif mib > max(store.free_mib, 0):  # 0 MiB (an existing volume): reachable is enough
            free = max(store.free_mib, 0)
            yield f"datastore: {store.name} needs {mib} MiB, {free} MiB free"


def port_groups(host: HostView, request: PlacementRequest, ctx: PlacementContext) -> str | None:
    """Each NIC's port group is on a DVS of the cluster's site (every host there carries it)."""
    for port_group_id in request.port_group_ids:
        site_id = ctx.port_group_sites.get(port_group_id)
        if site_id is None:
            return f"network: port group {port_group_id} does not exist"
        if site_id != ctx.cluster.site_id:
            return f"network: port group {port_group_id} is on a DVS of another site"
    return None


def _rules(ctx: PlacementContext, request: PlacementRequest, kind: RuleKind) -> Iterator[RuleView]:
    """The rules of ``kind`` that name the VM being placed."""
    for rule in ctx.rules:
        if rule.kind is kind and any(m.vm_id == request.vm_id for m in rule.vms):
            yield rule


def affinity(host: HostView, request: PlacementRequest, ctx: PlacementContext) -> str | None:
    """Once a member of an affinity rule is placed, the others go to the same host."""
    for rule in _rules(ctx, request, RuleKind.AFFINITY):
        homes = {m.host_id for m in rule.vms if m.host_id and m.vm_id != request.vm_id}
        if homes and host.id not in homes:
            names = ", ".join(sorted(ctx.host_names.get(h, str(h)) for h in homes))
            return f"affinity: rule {rule.name!r} keeps its VMs together on {names}"
    return None


def anti_affinity(host: HostView, request: PlacementRequest, ctx: PlacementContext) -> str | None:
    """Members of an anti-affinity rule never share a host."""
    for rule in _rules(ctx, request, RuleKind.ANTI_AFFINITY):
        for member in rule.vms:
            if member.host_id == host.id and member.vm_id != request.vm_id:
                return f"anti-affinity: rule {rule.name!r}: {member.name} already runs here"
    return None


def host_rules(host: HostView, request: PlacementRequest, ctx: PlacementContext) -> str | None:
    """VM-to-host rules: only on the rule's hosts, or never on them."""
    for rule in _rules(ctx, request, RuleKind.HOST_MUST):
        if host.id not in rule.host_ids:
            return f"host rule: rule {rule.name!r} allows only its {len(rule.host_ids)} host(s)"
    for rule in _rules(ctx, request, RuleKind.HOST_MUST_NOT):
        if host.id in rule.host_ids:
            return f"host rule: rule {rule.name!r} forbids this host"
    return None


# Filters over what the host query returns, cheapest and most telling first.
HOST_FILTERS: tuple[Filter, ...] = (
    requested_host,
    cluster,
    excluded,
    host_state,
    host_rules,
    affinity,
    anti_affinity,
    port_groups,
    vcpus,
    memory,
)
# The datastore filter runs last: it needs the host's datastores, which placement loads
# only for the best-ranked hosts that passed everything else.
FILTERS: tuple[Filter, ...] = (*HOST_FILTERS, datastores)


def applicable(
    request: PlacementRequest, ctx: PlacementContext, checks: tuple[Filter, ...] = HOST_FILTERS
) -> tuple[Filter, ...]:
    """``checks`` less those that cannot refuse any host for this request (saves time)."""
    idle: set[Filter] = set()
    if request.host_id is None:
        idle.add(requested_host)
    if not request.exclude:
        idle.add(excluded)
    if not ctx.rules:
        idle.update((host_rules, affinity, anti_affinity))
    if not request.port_group_ids:
        idle.add(port_groups)
    if not request.disk_mib:
        idle.add(datastores)
    return tuple(check for check in checks if check not in idle)


def first_failure(
    host: HostView,
    request: PlacementRequest,
    ctx: PlacementContext,
    checks: tuple[Filter, ...] = FILTERS,
) -> str | None:
    """The reason of the first of ``checks`` that refuses the host, or None when all pass."""
    for check in checks:
        reason = check(host, request, ctx)
        if reason is not None:
            return reason
    return None
