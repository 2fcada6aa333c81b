"""Heartbeats: writing a batch of agents' reports, and reconciling VRM's records with them.

Agents report every few seconds; VRM takes each report in memory (``vrm.agents.ingest``)
and writes a whole batch here, in one short transaction: every host's last heartbeat time
and usage in one statement, and row by row only what changed (a host back to ``normal``,
VM states corrected, datastores' capacity, facts), each change an Event.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row
from sqlalchemy.orm import Session

from cna_agent.protocol import DomainState, DomainStatus, Heartbeat, PoolReport
from vrm.agents.enrollment import facts_columns
from vrm.agents.repository import HeartbeatRepository, HostStateRepository, Memory, VmRow
from vrm.events.emit import emit
from vrm.hosts.states import Transition, allows
from vrm.models.enums import HostState, Severity, VmState
from vrm.network.push import sync_host
from vrm.storage.repository import DatastoreRepository, HostDatastoreRepository

# What a libvirt domain state means for the VM record.
DOMAIN_TO_VM_STATE = {
    DomainState.RUNNING: VmState.RUNNING,
    DomainState.BLOCKED: VmState.RUNNING,
    DomainState.PAUSED: VmState.PAUSED,
    DomainState.PMSUSPENDED: VmState.PAUSED,
    DomainState.SHUTDOWN: VmState.STOPPING,
    DomainState.SHUTOFF: VmState.STOPPED,
    DomainState.CRASHED: VmState.FAULT,
    DomainState.NOSTATE: VmState.UNKNOWN,
}


# States an operation is moving the VM through, or that no heartbeat can settle.
SETTLING = (VmState.CREATING, VmState.MIGRATING)


@dataclass(frozen=True, slots=True)
class Received:
    """One heartbeat, and when VRM's receive loop took it."""

    beat: Heartbeat
    at: datetime


def record(
    session: Session,
    beats: Mapping[uuid.UUID, Received],
    *,
    pools_changed: Collection[uuid.UUID] = (),
) -> dict[uuid.UUID, HostState]:
    """Write a batch of heartbeats; the state of each host that still exists.

    ``pools_changed`` names the hosts whose pool reports differ from the last ones
    written (the others' datastores are left alone).
    """
    repo = HeartbeatRepository(session)
    ids = list(beats)
    vms: dict[uuid.UUID | None, list[VmRow]] = defaultdict(list)
    for vm in repo.vms_on(ids):
        vms[vm.host_id].append(vm)
    memories = repo.memories(ids)
    rows, states = [], {}
    for host in repo.hosts(ids):
        received = beats[host.id]
        before = memories.get(host.id, Memory())
        after = _reconcile(session, host, received.beat.domains, vms[host.id], before)
        if after != before:
            repo.remember(host.id, after)
        states[host.id] = _recover(session, host)
        if received.beat.facts is not None:
            repo.set_columns(host.id, facts_columns(received.beat.facts))
        if host.id in pools_changed:
            _update_pools(session, host.id, received.beat.pools)
        usage = received.beat.usage.model_dump(mode="json")
        rows.append({"id": host.id, "last_heartbeat_at": received.at, "usage": usage})
    repo.record_beats(rows)
    return states


def _recover(session: Session, host: Row[Any]) -> HostState:
    """A connecting or faulty host that reports is normal again; its state now."""
    previous: HostState = host.state
    if not allows(Transition.REPORT, previous):
        return previous
    if not HostStateRepository(session).apply(host.id, Transition.REPORT):
        return previous
    kind = "host_connected" if previous == HostState.CONNECTING else "host_recovered"
    emit(
        session,
        type=kind,
        message=f"host {host.name} is normal (was {previous.value})",
        target_type="host",
        target_id=host.id,
    )
    # The DVSs of its site, as they are now (a host may miss changes while away).
    sync_host(session, host.id, user_id=None)
    return HostState.NORMAL


def _update_pools(session: Session, host_id: uuid.UUID, pools: Sequence[PoolReport]) -> None:
    """Capacity and allocation of the host's datastores, as the node measures them."""
    by_name = {p.name: p for p in pools}
    datastores = DatastoreRepository(session)
    for link in HostDatastoreRepository(session).for_host(host_id):
        report = by_name.get(link.pool_name)
        store = datastores.get(link.datastore_id)
        link.mounted = report is not None and report.active
        if report is not None and store is not None:
            store.capacity_mib = report.capacity_mib
            store.allocated_mib = report.allocation_mib


def _reconcile(
    session: Session,
    host: Row[Any],
    domains: Sequence[DomainStatus],
    vms: Sequence[VmRow],
    memory: Memory,
) -> Memory:
    """The node's word wins for VMs with no operation in flight; every change is an Event.

    A difference must show in two heartbeats in a row before the record changes: a
    heartbeat sampled while an operation was ending (or a guest briefly paused while
    QEMU starts it) must not undo what the operation just recorded. A VM with an
    operation in flight (a migration among them) is never corrected. What is remembered
    between heartbeats is returned, to be kept in ``host_reconciliation``: it lives in
    the database, so any VRM replica can take the next beat.
    """
    reported = {d.uuid: d for d in domains}
    still: dict[str, str] = {}
    for vm in vms:
        status = reported.pop(vm.uuid, None)
        actual = DOMAIN_TO_VM_STATE[status.state] if status else VmState.UNKNOWN
        if vm.task_state is not None or vm.state in (actual, *SETTLING):
            continue
        if memory.suspects.get(str(vm.id)) == actual.value:
            _correct(session, vm, actual, host.name)
        else:
            still[str(vm.id)] = actual.value
    strays = _report_strays(session, host, set(memory.strays), list(reported.values()))
    return Memory(suspects=still, strays=strays)


def _correct(session: Session, vm: VmRow, actual: VmState, host_name: str) -> None:
    """Record the reported state (compare-and-swap: an operation that began since wins)."""
    if not HeartbeatRepository(session).correct_vm(vm.id, recorded=vm.state, actual=actual):
        return
    severity = Severity.MAJOR if actual in (VmState.FAULT, VmState.UNKNOWN) else Severity.INFO
    emit(
        session,
        type="vm_state_corrected",
        severity=severity,
        target_type="vm",
        target_id=vm.id,
        message=f"VM {vm.name} is {actual.value} on {host_name} (recorded {vm.state.value})",
        details={"recorded": vm.state.value, "actual": actual.value},
    )


def _report_strays(
    session: Session, host: Row[Any], seen: set[str], strays: Sequence[DomainStatus]
) -> list[str]:
    """Domains that are not this host's VMs: reported once each, never touched.

    A VM that migrates here runs on this host before VRM records the move: it is
    neither unknown nor misplaced. One VRM knows on another host, with no operation in
    flight, is reported as misplaced; any other domain as unknown. The ones reported
    (to be remembered) are returned.
    """
    known = HeartbeatRepository(session).vms_by_uuid([d.uuid for d in strays])
    reported = []
    for domain in strays:
        vm = known.get(domain.uuid)
        if vm is not None and (vm.task_state is not None or vm.migration_target_host_id == host.id):
            continue
        reported.append(str(domain.uuid))
        if str(domain.uuid) in seen:
            continue
        emit(session, **_stray_event(host, domain, vm))
    return sorted(reported)


def _stray_event(host: Row[Any], domain: DomainStatus, vm: VmRow | None) -> dict[str, Any]:
    """The event of a domain that is not one of the host's VMs."""
    if vm is None:
        return {
            "type": "unknown_domain",
            "severity": Severity.MINOR,
            "target_type": "host",
            "target_id": host.id,
            "message": f"domain {domain.name} ({domain.uuid}) on {host.name} is not managed "
            "by VRM; it is left alone",
            "details": {"uuid": str(domain.uuid), "name": domain.name},
        }
    return {
        "type": "vm_on_unexpected_host",
        "severity": Severity.MAJOR,
        "target_type": "vm",
        "target_id": vm.id,
        "message": f"VM {vm.name} runs on {host.name}, but VRM has it elsewhere; it is left alone",
        "details": {"host_id": str(host.id), "recorded_host_id": str(vm.host_id)},
    }
