"""Placement: which host a VM goes to, decided under the cluster's lock.

The contract with callers (VM create, start, migrate, HA restart):

1. Call ``select_host`` inside the transaction that will record the claim (inserting the
   VM row before it is fine). The lock is then held to commit, so keep that short: no
   agent calls in between.
2. It locks the cluster (``PlacementRepository.lock_cluster``), reads what every host
   already carries, filters, weighs, and returns a ``Placement`` (the chosen ``Host``), or raises
   ``NoValidHost`` with, per host, the reason of the first filter that refused it.
3. The caller then claims the host in the same transaction: sets ``vm.host_id`` (and
   adds the rows of new volumes, on ``Placement.default_datastore_id`` when the request
   named no datastore), and commits. The lock is held until that commit, so the
   next placement in the cluster reads this claim: two concurrent placements can never
   overbook a host. Nothing is sent to an agent before the commit.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace

from sqlalchemy.orm import Session

from vrm.errors import Conflict, NotFound
from vrm.models import Host
from vrm.scheduler import filters
from vrm.scheduler.interface import NoValidHost, PlacementRequest
from vrm.scheduler.repository import PlacementRepository
from vrm.scheduler.views import (
    HOST_RESERVED_MIB,
    ClusterView,
    DatastoreView,
    HostView,
    PlacementContext,
    default_datastore,
)
from vrm.scheduler.weights import best, ranked

DatastoreLoader = Callable[[Sequence[uuid.UUID]], Mapping[uuid.UUID, Sequence[DatastoreView]]]
# Datastores are loaded for the best-ranked hosts only, in batches growing up to this.
_FIRST_BATCH, _MAX_BATCH = 8, 512
# Hosts the database ranks first and placement looks at before weighing all of them.
_QUICK_CANDIDATES = 16


@dataclass(frozen=True, slots=True)
class Placement:
    """The chosen host, and where its new disks with no datastore go."""

    host: Host
    # The host's default datastore as the datastore filter counted its space; None when
    # the request had no new disks (nothing was looked at).
    default_datastore_id: uuid.UUID | None


def select_host(session: Session, *, request: PlacementRequest) -> Placement:
    """Lock the cluster and choose the best host for ``request``; the caller claims it."""
    repo = PlacementRepository(session)
    cluster = repo.lock_cluster(request.cluster_id)
    if cluster is None:
        raise NotFound.of("cluster", request.cluster_id)
    chosen = _quick_choice(repo, cluster, request)
    if chosen is None:
        hosts = repo.hosts(request.cluster_id, also=request.host_id)
        ctx = _context(repo, cluster, hosts, request)
        chosen = choose(hosts, request=request, ctx=ctx, load_datastores=repo.datastores)
    host = repo.host(chosen.id)
    if host is None:
        raise NoValidHost({chosen.name: "state: host was removed meanwhile"})
    store = default_datastore(chosen.datastores)
    return Placement(host, store.id if store is not None else None)


def _quick_choice(
    repo: PlacementRepository, cluster: ClusterView, request: PlacementRequest
) -> HostView | None:
    """The best of the few hosts the database ranks first, or None (then all are weighed)."""
    if request.host_id is not None:
        return None
    hosts = repo.best_fitting(cluster, request, HOST_RESERVED_MIB, _QUICK_CANDIDATES)
    if not hosts:
        return None
    ctx = _context(repo, cluster, hosts, request)
    try:
        return choose(hosts, request=request, ctx=ctx, load_datastores=repo.datastores)
    except NoValidHost:
        return None


def choose(
    hosts: Sequence[HostView],
    *,
    request: PlacementRequest,
    ctx: PlacementContext,
    load_datastores: DatastoreLoader,
) -> HostView:
    """The best host that passes every filter; NoValidHost says why each one failed."""
    rejected: dict[str, str] = {}
    passing = _passing(hosts, request, ctx, rejected)
    if passing and not request.disk_mib:
        return best(passing, ctx)
    for host in _with_datastores(ranked(passing, ctx), load_datastores):
        reason = filters.datastores(host, request, ctx)
        if reason is None:
            return host
        rejected[host.name] = reason
    raise _no_valid_host(rejected, request=request, ctx=ctx)


def check_growth(
    session: Session, *, cluster_id: uuid.UUID, host_id: uuid.UUID, vcpus: int, memory_mib: int
) -> None:
    """Lock the cluster and make sure host ``host_id`` can take ``vcpus`` more vCPUs and
    ``memory_mib`` more MiB (a placed VM growing); 409 ``insufficient_capacity`` otherwise.

    Like ``select_host``, the caller claims the growth (writes the VM's new figures) in the
    same transaction, so two VMs growing on one host at once cannot overbook it.
    """
    if vcpus <= 0 and memory_mib <= 0:
        return
    repo = PlacementRepository(session)
    cluster = repo.lock_cluster(cluster_id)
    host = repo.host_view(host_id, cluster_id)
    if cluster is None or host is None:
        raise NotFound.of("host", host_id)
    request = PlacementRequest(
        cluster_id=cluster_id, vcpus=max(vcpus, 0), memory_mib=max(memory_mib, 0)
    )
    ctx = PlacementContext(cluster=cluster)
    for check in (filters.vcpus, filters.memory):
        reason = check(host, request, ctx)
        if reason is not None:
            raise Conflict(
                f"host {host.name} has no room for the change: {reason}",
                code="insufficient_capacity",
                details={"host_id": str(host.id), "reason": reason},
            )


def default_datastore_id(session: Session, *, host_id: uuid.UUID) -> uuid.UUID | None:
    """Where a disk placed with datastore None goes on ``host_id`` (as the filter counted it)."""
    reached = PlacementRepository(session).datastores([host_id])
    store = default_datastore(reached.get(host_id, []))
    return store.id if store is not None else None


def _passing(
    hosts: Sequence[HostView],
    request: PlacementRequest,
    ctx: PlacementContext,
    rejected: dict[str, str],
) -> list[HostView]:
    """The hosts every filter but the datastore one lets through; the others' reasons."""
    checks = filters.applicable(request, ctx)
    passing: list[HostView] = []
    for host in hosts:
        reason = filters.first_failure(host, request, ctx, checks)
        if reason is None:
            passing.append(host)
        else:
            rejected[host.name] = reason
    return passing


def _with_datastores(hosts: list[HostView], load: DatastoreLoader) -> Iterator[HostView]:
    """``hosts`` in order, each with its datastores, loaded a growing batch at a time."""
    start, size = 0, _FIRST_BATCH
    while start < len(hosts):
        batch = hosts[start : start + size]
        reached = load([host.id for host in batch])
        for host in batch:
            yield replace(host, datastores=tuple(reached.get(host.id, ())))
        start, size = start + size, min(size * 8, _MAX_BATCH)


def _context(
    repo: PlacementRepository,
    cluster: ClusterView,
    hosts: Sequence[HostView],
    request: PlacementRequest,
) -> PlacementContext:
    """Rules naming the VM, port group sites and host names: what filters consult."""
    rules = repo.rules_naming(cluster.id, request.vm_id) if request.vm_id else []
    return PlacementContext(
        cluster=cluster,
        rules=tuple(rules),
        port_group_sites=repo.port_group_sites(request.port_group_ids),
        host_names={host.id: host.name for host in hosts},
    )


def _no_valid_host(
    rejected: dict[str, str], *, request: PlacementRequest, ctx: PlacementContext
) -> NoValidHost:
    """The error for a failed placement, naming a requested host that does not exist."""
    if request.host_id is not None and request.host_id not in ctx.host_names:
        rejected[str(request.host_id)] = "requested: no such host"
    if not rejected:
        message = f"cluster {ctx.cluster.name} has no hosts to place the VM on"
        return NoValidHost(rejected, message=message)
    return NoValidHost(rejected)
