"""Heartbeats: an agent's periodic report, and reconciling VRM's records with it."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from cna_agent.protocol import DomainState, DomainStatus, Heartbeat, HeartbeatAck, PoolReport
from vrm.agents.credentials import host_credential_matches
from vrm.agents.enrollment import facts_columns
from vrm.agents.repository import HostStateRepository
from vrm.errors import Unauthorized
from vrm.events.emit import emit
from vrm.hosts.repository import HostRepository
from vrm.models import Host, Vm
from vrm.models.base import utcnow
from vrm.models.enums import HostState, Severity, VmState
from vrm.network.push import sync_host
from vrm.storage.repository import DatastoreRepository, HostDatastoreRepository
from vrm.vms.repository import VmRepository

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
# What reconciliation remembers between heartbeats, kept in ``hosts.usage``.
_REMEMBERED: dict[str, Any] = {"unknown_domains": [], "suspects": {}}
# Hosts in these states become ``normal`` when they report.
_RECOVERABLE = (HostState.CONNECTING, HostState.FAULT)


def authenticate_host(session: Session, *, host_id: uuid.UUID, credential: str) -> Host:
    """The host whose agent presents ``credential``; 401 for anything else."""
    host = HostRepository(session).get(host_id)
    if host is None or not host_credential_matches(credential, host.credential_hash):
        raise Unauthorized("unknown host or wrong host credential", code="invalid_host_credential")
    return host


def receive(session: Session, *, host: Host, beat: Heartbeat) -> HeartbeatAck:
    """Record a heartbeat: liveness, usage, facts, pools, and reconcile the VMs."""
    host.last_heartbeat_at = utcnow()
    # Keep what reconciliation remembers between beats beside the fresh usage figures.
    memory = {key: host.usage.get(key, default) for key, default in _REMEMBERED.items()}
    host.usage = {**beat.usage.model_dump(mode="json"), **memory}
    if beat.facts is not None:
        for column, value in facts_columns(beat.facts).items():
            setattr(host, column, value)
    _recover(session, host)
    _update_pools(session, host, beat.pools)
    _reconcile(session, host, beat.domains)
    return HeartbeatAck(host_state=host.state.value)


def _recover(session: Session, host: Host) -> None:
    """A connecting or faulty host that reports is normal again."""
    previous = host.state
    if previous not in _RECOVERABLE:
        return
    if HostStateRepository(session).swap_state(
        host.id, expected=_RECOVERABLE, new=HostState.NORMAL
    ):
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


def _update_pools(session: Session, host: Host, pools: Sequence[PoolReport]) -> None:
    """Capacity and allocation of the host's datastores, as the node measures them."""
    by_name = {p.name: p for p in pools}
    datastores = DatastoreRepository(session)
    for link in HostDatastoreRepository(session).for_host(host.id):
        report = by_name.get(link.pool_name)
        store = datastores.get(link.datastore_id)
        link.mounted = report is not None and report.active
        if report is not None and store is not None:
            store.capacity_mib = report.capacity_mib
            store.allocated_mib = report.allocation_mib


def _reconcile(session: Session, host: Host, domains: Sequence[DomainStatus]) -> None:
    """The node's word wins for VMs with no operation in flight; every change is an Event.

    A difference must show in two heartbeats in a row before the record changes: a
    heartbeat sampled while an operation was ending (or a guest briefly paused while
    QEMU starts it) must not undo what the operation just recorded.
    """
    reported = {d.uuid: d for d in domains}
    suspects: dict[str, str] = host.usage.get("suspects", {})
    still: dict[str, str] = {}
    for vm in VmRepository(session).on_host(host.id):
        status = reported.pop(vm.uuid, None)
        actual = DOMAIN_TO_VM_STATE[status.state] if status else VmState.UNKNOWN
        if vm.task_state is not None or vm.state in (actual, VmState.CREATING):
            continue
        if suspects.get(str(vm.id)) == actual.value:
            _correct(session, vm, actual, host)
        else:
            still[str(vm.id)] = actual.value
    host.usage = {**host.usage, "suspects": still}
    _report_unknown(session, host, list(reported.values()))


def _correct(session: Session, vm: Vm, actual: VmState, host: Host) -> None:
    severity = Severity.MAJOR if actual in (VmState.FAULT, VmState.UNKNOWN) else Severity.INFO
    emit(
        session,
        type="vm_state_corrected",
        severity=severity,
        target_type="vm",
        target_id=vm.id,
        message=f"VM {vm.name} is {actual.value} on {host.name} (recorded {vm.state.value})",
        details={"recorded": vm.state.value, "actual": actual.value},
    )
    vm.state = actual


def _report_unknown(session: Session, host: Host, strays: Sequence[DomainStatus]) -> None:
    """Domains VRM does not know: reported once each, never touched."""
    seen = set(host.usage.get("unknown_domains", []))
    current = {str(d.uuid) for d in strays}
    for domain in strays:
        if str(domain.uuid) not in seen:
            emit(
                session,
                type="unknown_domain",
                severity=Severity.MINOR,
                target_type="host",
                target_id=host.id,
                message=f"domain {domain.name} ({domain.uuid}) on {host.name} is not managed "
                "by VRM; it is left alone",
                details={"uuid": str(domain.uuid), "name": domain.name},
            )
    host.usage = {**host.usage, "unknown_domains": sorted(current)}
