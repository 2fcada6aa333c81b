"""Pre-checks of a migration: every refusal before anything moves, each with its code.

In the order they run:

1. the VM: running (live) or stopped (cold), no operation in flight, no snapshots
   (libvirt refuses to migrate a domain that has some, and a cold move would lose them);
2. the target: the operator's host, or the scheduler's pick among the cluster's hosts
   but the source (the placement filters); it is ``normal``, in the VM's cluster, not
   the source, and reaches every datastore the VM's disks and media are on (or, when
   the disks move, the datastore they go to, with room for them);
3. asking the nodes: the target can run the VM's CPU (the cluster's CPU mode compared
   with libvirt on the target) and has every port group the VM's NICs use;
4. under the cluster's lock, with the claim: vCPU and memory capacity after overcommit
   on the target, and the per-host limits of migrations leaving and arriving.

A VM here has no PCI passthrough device (VRM does not assign any yet), so there is
nothing to refuse for it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from cna_agent.protocol.migration import CpuCompare
from vrm.agents.client import AgentCallError, AgentClient, AgentRejected
from vrm.clusters.schemas import HOST_MODEL
from vrm.config import Settings
from vrm.errors import Conflict, NotFound
from vrm.hosts.states import SCHEDULABLE
from vrm.models import Cluster, Host, HostDatastore, Image, Vm, VmSnapshot, Volume
from vrm.scheduler.interface import NoValidHost, PlacementRequest
from vrm.scheduler.repository import PlacementRepository
from vrm.scheduler.service import select_host
from vrm.vms.spec import domain_spec

# How a request or a flow reaches a host's agent.
AgentOf = Callable[[Session, uuid.UUID], AgentClient]
# The placement filter whose refusal maps to each migration refusal code.
_CODES = {
    "state": "host_not_normal",
    "cpu": "insufficient_capacity",
    "memory": "insufficient_capacity",
    "datastore": "storage_not_shared",
}


@dataclass(frozen=True, slots=True)
class DiskMove:
    """The volumes that move to another datastore with the VM, and their size."""

    datastore_id: uuid.UUID
    volume_ids: frozenset[uuid.UUID]
    mib: int


def datastores_of(session: Session, vm: Vm, move: DiskMove | None = None) -> set[uuid.UUID]:
    """The datastores of the VM's disks and of the images in its CD-ROMs (after ``move``:
    those of the volumes that stay, and the one the others go to)."""
    moved = move.volume_ids if move else frozenset()
    volumes = [d.volume_id for d in vm.disks if d.volume_id not in moved]
    images = [c.image_id for c in vm.cdroms if c.image_id is not None]
    stores = set(session.scalars(select(Volume.datastore_id).where(Volume.id.in_(volumes))))
    stores |= set(session.scalars(select(Image.datastore_id).where(Image.id.in_(images))))
    if move is not None:
        stores.add(move.datastore_id)
    return stores


def request_for(
    session: Session, vm: Vm, host_id: uuid.UUID | None, move: DiskMove | None = None
) -> PlacementRequest:
    """The placement request of moving ``vm`` off its host (to ``host_id`` if named)."""
    assert vm.host_id is not None
    # Existing volumes: the target must reach their datastores (no room needed).
    disk_mib: dict[uuid.UUID | None, int] = dict.fromkeys(datastores_of(session, vm, move), 0)
    if move is not None:
        disk_mib[move.datastore_id] = move.mib  # the new volumes: room for them
    return PlacementRequest(
        cluster_id=vm.cluster_id,
        vcpus=vm.vcpus,
        memory_mib=vm.memory_mib,
        disk_mib=disk_mib,
        port_group_ids=tuple(n.port_group_id for n in vm.nics),
        vm_id=vm.id,
        host_id=host_id,
        exclude=(vm.host_id,),
    )


def pick_target(
    session: Session, vm: Vm, host_id: uuid.UUID | None, move: DiskMove | None = None
) -> Host:
    """The operator's target after the checks that need no node, or the scheduler's."""
    refuse_snapshots(session, vm)
    if host_id is None:
        try:
            return select_host(session, request=request_for(session, vm, None, move)).host
        except NoValidHost as exc:
            if move is None:
                raise
            raise _refused_storage(exc) from exc
    host = session.get(Host, host_id)
    if host is None:
        raise NotFound.of("host", host_id)
    if host.id == vm.host_id:
        raise Conflict(
            f"VM {vm.name} already runs on {host.name}; choose another host",
            code="migration_target_is_source",
        )
    if host.cluster_id != vm.cluster_id:
        raise Conflict(
            f"host {host.name} is in another cluster than VM {vm.name}",
            code="host_other_cluster",
        )
    if host.state not in SCHEDULABLE:
        raise Conflict(
            f"host {host.name} is {host.state.value}: only normal hosts take VMs",
            code="host_not_normal",
            details={"state": host.state.value},
        )
    check_storage(session, vm, host, move)
    return host


def refuse_snapshots(session: Session, vm: Vm) -> None:
    """A VM with snapshots does not move (neither to a host nor its disks)."""
    count = session.scalar(
        select(func.count()).select_from(VmSnapshot).where(VmSnapshot.vm_id == vm.id)
    )
    if count:
        raise Conflict(
            f"VM {vm.name} has {count} snapshots, which cannot move with it; delete them first",
            code="vm_has_snapshots",
            details={"snapshots": count},
        )


def reached_datastores(
    session: Session, host_id: uuid.UUID, stores: set[uuid.UUID]
) -> set[uuid.UUID]:
    """Those of ``stores`` that ``host_id`` has mounted."""
    return set(
        session.scalars(
            select(HostDatastore.datastore_id).where(
                HostDatastore.host_id == host_id,
                HostDatastore.datastore_id.in_(stores),
                HostDatastore.mounted.is_(True),
            )
        )
    )


def check_storage(session: Session, vm: Vm, host: Host, move: DiskMove | None = None) -> None:
    """The target reaches every datastore of the VM (shared storage), or the one its
    disks move to."""
    stores = datastores_of(session, vm, move)
    missing = sorted(str(s) for s in stores - reached_datastores(session, host.id, stores))
    if move is not None:
        if missing:
            raise Conflict(
                f"host {host.name} does not reach the datastores VM {vm.name} would use there",
                code="datastore_unreachable",
                details={"datastores": missing},
            )
        check_space(session, host, move)  # again under the lock, with the claim
    elif missing:
        raise Conflict(
            f"host {host.name} does not reach the datastores of VM {vm.name}'s disks; "
            "shared storage is needed, or name a datastore it reaches to move them to",
            code="storage_not_shared",
            details={"datastores": missing},
        )


def check_nodes(
    session: Session, vm: Vm, cluster: Cluster, source: AgentClient, target: AgentClient
) -> None:
    """Ask the nodes: the target runs the VM's CPU and has its port groups."""
    try:
        _check_cpu(cluster, source, target, vm)
        spec = domain_spec(session, vm)
        _check_networks(target, ((n.network, n.portgroup) for n in spec.nics), vm)
    except AgentCallError as exc:
        raise Conflict(
            f"a host could not be asked about the migration: {exc.message}",
            code="host_unreachable",
            details={"agent_code": exc.code},
        ) from exc


def _check_cpu(cluster: Cluster, source: AgentClient, target: AgentClient, vm: Vm) -> None:
    if cluster.cpu_mode == HOST_MODEL:
        cpu = source.host_cpu()
    else:
        cpu = CpuCompare(
            xml=f"<cpu mode='custom' match='exact'><model fallback='forbid'>"
            f"{cluster.cpu_mode}</model></cpu>"
        )
    answer = target.compare_cpu(cpu)
    if not answer.compatible:
        raise Conflict(
            f"the target's CPU cannot run VM {vm.name} (cluster CPU mode {cluster.cpu_mode}): "
            f"{answer.detail}",
            code="cpu_incompatible",
            details={"cpu_mode": cluster.cpu_mode, "detail": answer.detail},
        )


def _check_networks(target: AgentClient, wanted: Iterable[tuple[str, str | None]], vm: Vm) -> None:
    for network, group in wanted:
        try:
            report = target.network(network)
        except AgentRejected as exc:
            if exc.status != 404:
                raise
            report = None
        if report is None or (
            group is not None and group not in {g.name for g in report.port_groups}
        ):
            raise Conflict(
                f"the target has no port group {group or network} for VM {vm.name}'s NIC",
                code="port_group_missing",
                details={"network": network, "port_group": group},
            )


def claim_target(
    session: Session, settings: Settings, vm: Vm, target: Host, move: DiskMove | None = None
) -> None:
    """Under the cluster's lock: the target still has room (and the datastore the disks
    move to), and the limits allow one more migration from the source and to the
    target. The caller claims in this transaction."""
    try:
        select_host(session, request=request_for(session, vm, target.id, move))
    except NoValidHost as exc:
        reason = str(exc.details.get("hosts", {}).get(target.name, ""))
        code = _code(reason, exc.code, moving=move is not None)
        raise Conflict(
            f"host {target.name} cannot take VM {vm.name}: {reason or exc.message}",
            code=code,
            details={"reason": reason},
        ) from exc
    assert vm.host_id is not None
    arriving = Vm.migration_target_host_id == target.id
    _check_limit(session, arriving, target, "incoming", settings.migration_max_incoming)
    leaving = (Vm.host_id == vm.host_id) & Vm.migration_target_host_id.is_not(None)
    source = session.get(Host, vm.host_id)
    assert source is not None
    _check_limit(session, leaving, source, "outgoing", settings.migration_max_outgoing)


def _code(reason: str, default: str, *, moving: bool) -> str:
    """The refusal code of a placement filter's reason for the target."""
    if reason.startswith("datastore:") and "MiB free" in reason:
        return "insufficient_space"
    if reason.startswith("datastore:") and moving:
        return "datastore_unreachable"
    return _CODES.get(reason.split(":", 1)[0], default)


def _refused_storage(exc: NoValidHost) -> Conflict:
    """No host takes the VM with its disks moved: say so when the datastore is why."""
    hosts = exc.details.get("hosts", {}).values()
    reasons = [str(r) for r in hosts if not str(r).startswith("excluded:")]  # the source
    if not reasons or not all(r.startswith("datastore:") for r in reasons):
        return exc
    codes = {_code(reason, "", moving=True) for reason in reasons}
    return Conflict(
        f"no host can take the VM with its disks on that datastore ({reasons[0]})",
        code="insufficient_space" if codes == {"insufficient_space"} else "datastore_unreachable",
        details=exc.details,
    )


def claim_space(session: Session, host: Host, move: DiskMove) -> None:
    """Under the cluster's lock: the datastore has room for the copies (net of volumes
    being made there). The caller makes the copies' rows in this transaction."""
    PlacementRepository(session).lock_cluster(host.cluster_id)
    check_space(session, host, move)


def check_space(session: Session, host: Host, move: DiskMove) -> None:
    """The datastore the disks move to has room for them, as ``host`` reaches it."""
    repo = PlacementRepository(session)
    reached = {d.id: d for d in repo.datastores([host.id]).get(host.id, [])}
    store = reached.get(move.datastore_id)
    if store is None or not store.usable:
        raise Conflict(
            f"host {host.name} does not reach that datastore",
            code="datastore_unreachable",
            details={"datastores": [str(move.datastore_id)]},
        )
    if move.mib > max(store.free_mib, 0):
        raise Conflict(
            f"datastore {store.name} needs {move.mib} MiB, {max(store.free_mib, 0)} MiB free",
            code="insufficient_space",
            details={"needed_mib": move.mib, "free_mib": max(store.free_mib, 0)},
        )


def _check_limit(
    session: Session, where: ColumnElement[bool], host: Host, direction: str, limit: int
) -> None:
    running = session.scalar(select(func.count()).select_from(Vm).where(where))
    if (running or 0) >= limit:
        raise Conflict(
            f"host {host.name} already has {running} {direction} migrations (limit {limit}); "
            "try again when one has ended",
            code="migration_limit_reached",
            details={"host_id": str(host.id), "direction": direction, "limit": limit},
        )
