"""Maintenance mode: a host is emptied (its VMs migrate away), then takes no VMs.

``enter-maintenance`` with ``dry_run`` answers the evacuation plan: each VM of the host
with its target, or what blocks it. Without it the host turns ``maintaining`` (it takes
no new VMs from that moment) and a ``host.enter-maintenance`` task moves every VM: live
when it runs, cold when it is stopped, within a time limit. The host reaches
``maintenance`` only when it is empty; if a VM cannot move, or the task is cancelled
or runs out of time, the task fails naming the VMs and the host is ``normal`` again.
``exit-maintenance`` returns the host to service.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from vrm.agents.client import AgentCallError
from vrm.agents.repository import HostStateRepository
from vrm.audit.service import record
from vrm.auth.principal import Principal
from vrm.config import Settings
from vrm.crud import get_or_404
from vrm.errors import Conflict, VrmError
from vrm.events.emit import emit
from vrm.hosts.repository import HostRepository
from vrm.hosts.states import Transition, rule
from vrm.migration import checks
from vrm.migration.checks import AgentOf
from vrm.models import Cluster, Host, Task, Vm
from vrm.models.base import utcnow
from vrm.models.enums import VmState
from vrm.tasks.service import queue_task
from vrm.tasks.types import TaskType
from vrm.vms.repository import VmRepository

KIND = "host"
# What the nodes are asked about for a VM: its target and its NICs' port groups.
NodeQuestion = tuple[uuid.UUID, frozenset[uuid.UUID]]
# States a VM moves from: live when running, cold when stopped.
MOVABLE = {VmState.RUNNING: "live", VmState.STOPPED: "cold"}


@dataclass
class Move:
    """One VM of the plan: where it goes and how, or why it cannot."""

    vm_id: uuid.UUID
    name: str
    state: str
    action: str | None = None  # live, cold; None when blocked
    target_host_id: uuid.UUID | None = None
    target_name: str | None = None
    blocker: dict[str, str] | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "vm_id": str(self.vm_id),
            "name": self.name,
            "state": self.state,
            "action": self.action,
            "target_host_id": str(self.target_host_id) if self.target_host_id else None,
            "target_name": self.target_name,
            "blocker": self.blocker,
        }


@dataclass
class Plan:
    """The evacuation plan of a host."""

    host_id: uuid.UUID
    moves: list[Move] = field(default_factory=list)

    @property
    def movable(self) -> bool:
        return all(m.blocker is None for m in self.moves)

    def as_json(self) -> dict[str, Any]:
        return {
            "host_id": str(self.host_id),
            "movable": self.movable,
            "vms": [m.as_json() for m in self.moves],
        }


def plan(session: Session, *, agent: AgentOf, host_id: uuid.UUID) -> Plan:
    """Where each VM of the host would go now, or what blocks it (nothing is changed:
    the targets' claims made to plan consistently are rolled back)."""
    host = get_or_404(HostRepository(session), host_id, KIND)
    cluster = session.get(Cluster, host.cluster_id)
    assert cluster is not None
    result = Plan(host.id)
    asked: dict[NodeQuestion, str | None] = {}
    try:
        for vm in vms_on(session, host.id):
            result.moves.append(_plan_one(session, agent, cluster, vm, asked))
    finally:
        session.rollback()
    return result


def _plan_one(
    session: Session,
    agent: AgentOf,
    cluster: Cluster,
    vm: Vm,
    asked: dict[NodeQuestion, str | None],
) -> Move:
    move = Move(vm.id, vm.name, vm.state.value)
    if vm.task_state is not None:
        move.blocker = _blocker("vm_busy", f"busy with {vm.task_state}")
        return move
    if vm.state not in MOVABLE:
        move.blocker = _blocker("vm_state_conflict", f"it is {vm.state.value}")
        return move
    try:
        full = VmRepository(session).full(vm.id)
        assert full is not None
        target = checks.pick_target(session, full, None)
        # The nodes are asked once per target and set of port groups (the CPU is the
        # source's, the same for every VM of the host).
        question = (target.id, frozenset(n.port_group_id for n in full.nics))
        if question not in asked:
            asked[question] = _nodes_refuse(session, agent, cluster, full, target)
        if asked[question] is not None:
            move.blocker = _blocker("node_check_failed", str(asked[question]))
            return move
        # Claim it in this (rolled back) transaction so the next VMs see it.
        full.migration_target_host_id = target.id
        session.flush()
    except VrmError as exc:
        move.blocker = _blocker(exc.code, exc.message)
        return move
    move.action = MOVABLE[vm.state]
    move.target_host_id, move.target_name = target.id, target.name
    return move


def _nodes_refuse(
    session: Session, agent: AgentOf, cluster: Cluster, vm: Vm, target: Host
) -> str | None:
    """Why the target's node refuses VMs of this host (CPU, networks), or None."""
    assert vm.host_id is not None
    try:
        checks.check_nodes(
            session, vm, cluster, agent(session, vm.host_id), agent(session, target.id)
        )
    except (VrmError, AgentCallError) as exc:
        return exc.message
    return None


def _blocker(code: str, message: str) -> dict[str, str]:
    return {"code": code, "message": message}


def vms_on(session: Session, host_id: uuid.UUID) -> list[Vm]:
    """The VMs placed on a host, by name."""
    return sorted(VmRepository(session).on_host(host_id), key=lambda vm: vm.name)


def enter(
    session: Session, *, actor: Principal, settings: Settings, host_id: uuid.UUID, timeout_s: int
) -> Task:
    """Turn the host ``maintaining`` and queue its evacuation."""
    host = get_or_404(HostRepository(session), host_id, KIND)
    if not HostStateRepository(session).apply(host.id, Transition.ENTER_MAINTENANCE):
        session.refresh(host)
        raise _state_conflict(host, Transition.ENTER_MAINTENANCE)
    task = queue_task(
        session,
        type=TaskType.HOST_ENTER_MAINTENANCE,
        target_type=KIND,
        target_id=host.id,
        user_id=actor.user_id,
        params={"timeout_s": timeout_s, "deadline": utcnow().timestamp() + timeout_s},
    )
    emit(
        session,
        type="host_maintaining",
        target_type=KIND,
        target_id=host.id,
        task_id=task.id,
        message=f"host {host.name} is entering maintenance: its VMs move away",
    )
    record(
        session,
        actor=actor,
        action="host.enter-maintenance",
        target_type=KIND,
        target_id=host.id,
        details={"task_id": str(task.id)},
    )
    return task


def exit_maintenance(session: Session, *, actor: Principal, host_id: uuid.UUID) -> Host:
    """Return a host in maintenance to service."""
    host = get_or_404(HostRepository(session), host_id, KIND)
    if not HostStateRepository(session).apply(host.id, Transition.EXIT_MAINTENANCE):
        session.refresh(host)
        raise _state_conflict(host, Transition.EXIT_MAINTENANCE)
    session.refresh(host)
    emit(
        session,
        type="host_in_service",
        target_type=KIND,
        target_id=host.id,
        message=f"host {host.name} left maintenance and takes VMs again",
    )
    record(
        session, actor=actor, action="host.exit-maintenance", target_type=KIND, target_id=host.id
    )
    return host


def _state_conflict(host: Host, transition: Transition) -> Conflict:
    allowed = sorted(s.value for s in rule(transition).allowed)
    return Conflict(
        f"host {host.name} is {host.state.value}; {transition.value} needs it "
        f"{' or '.join(allowed)}",
        code="host_state_conflict",
        details={"state": host.state.value, "allowed": allowed},
    )
