"""VM rules: creation with placement, and every operation through a task.

Services check and claim; flows (``vrm.vms.flows``) do the work on the nodes after
the request's transaction has committed.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from vrm.audit.service import record
from vrm.auth.principal import Principal
from vrm.clusters.repository import ClusterRepository
from vrm.crud import apply_update, ensure_unique, get_or_404, get_ref_or_422
from vrm.errors import Conflict, NotFound
from vrm.models import Task, Vm
from vrm.models.enums import VmState
from vrm.scheduler.service import check_growth
from vrm.tasks.service import queue_task
from vrm.tasks.types import TaskType, vm_task
from vrm.vms import build, checks
from vrm.vms.checks import RESIZED
from vrm.vms.repository import VmRepository
from vrm.vms.schemas import ResizeBody, VmCreate, VmUpdate
from vrm.vms.states import RULES, Operation

KIND = "vm"


def get_vm(session: Session, *, vm_id: uuid.UUID) -> Vm:
    """One VM with its disks and NICs, or 404."""
    vm = VmRepository(session).full(vm_id)
    if vm is None:
        raise NotFound.of(KIND, vm_id)
    return vm


def create_vm(
    session: Session, *, actor: Principal, data: VmCreate, mac_prefix: str
) -> tuple[Vm, Task]:
    """Place a new VM, record it with its volumes and NICs, and queue its creation."""
    cluster = get_ref_or_422(ClusterRepository(session), data.cluster_id, "cluster", "cluster_id")
    repo = VmRepository(session)
    ensure_unique(
        repo,
        f"a VM named {data.name!r} already exists in this cluster",
        cluster_id=cluster.id,
        name=data.name,
    )
    plan = build.plan(session, data)
    placement = build.place(session, data, plan)
    vm = Vm(
        name=data.name,
        description=data.description,
        cluster_id=cluster.id,
        host_id=placement.host.id,
        vcpus=data.vcpus,
        max_vcpus=data.max_vcpus or data.vcpus,
        memory_mib=data.memory_mib,
        max_memory_mib=data.max_memory_mib or data.memory_mib,
        cpu_shares=data.cpu_shares,
        cpu_reservation_mhz=data.cpu_reservation_mhz,
        cpu_limit_mhz=data.cpu_limit_mhz,
        ha_enabled=data.ha_enabled,
        boot_order=list(data.boot_order),
        state=VmState.CREATING,
        task_state=Operation.CREATE.value,
        user_data=data.user_data,
        ssh_keys=list(data.ssh_keys),
        console_exclusive=data.console_exclusive,
    )
    repo.add(vm, conflict=f"a VM named {data.name!r} already exists in this cluster")
    build.attach_new(session, vm, placement, data, plan, mac_prefix=mac_prefix)
    task = queue_task(
        session,
        type=TaskType.VM_CREATE,
        target_type=KIND,
        target_id=vm.id,
        user_id=actor.user_id,
        params={"power_on": data.power_on, "from_images": plan.from_images},
    )
    record(
        session,
        actor=actor,
        action="vm.create",
        target_type=KIND,
        target_id=vm.id,
        details={"host_id": str(placement.host.id), "task_id": str(task.id)},
    )
    return get_vm(session, vm_id=vm.id), task


def update_vm(session: Session, *, actor: Principal, vm_id: uuid.UUID, data: VmUpdate) -> None:
    """Change a VM's description, HA flag or console exclusivity (no task: VRM's own)."""
    vm = get_or_404(VmRepository(session), vm_id, KIND)
    changes = apply_update(vm, data)
    session.flush()
    record(
        session,
        actor=actor,
        action="vm.update",
        target_type=KIND,
        target_id=vm.id,
        details=changes,
    )


def operate(
    session: Session,
    *,
    actor: Principal,
    vm_id: uuid.UUID,
    op: Operation,
    params: dict[str, Any] | None = None,
) -> tuple[Vm, Task]:
    """Claim the VM for ``op`` (409 when busy or in the wrong state) and queue its task."""
    repo = VmRepository(session)
    vm = get_or_404(repo, vm_id, KIND)
    if vm.is_template and op not in (Operation.CLONE, Operation.DELETE):
        raise Conflict(f"{vm.name} is a template; clone it to get a VM", code="vm_is_template")
    previous = vm.state
    if not repo.claim(vm.id, op):
        session.refresh(vm)
        raise refusal(vm, op)
    # The state to put back if the operation fails.
    params = {**(params or {}), "previous_state": previous.value}
    task = queue_task(
        session,
        type=vm_task(op),
        target_type=KIND,
        target_id=vm.id,
        user_id=actor.user_id,
        params=params,
    )
    record(
        session,
        actor=actor,
        action=f"vm.{op.value}",
        target_type=KIND,
        target_id=vm.id,
        details={"task_id": str(task.id), **params},
    )
    return get_vm(session, vm_id=vm.id), task


def resize(
    session: Session, *, actor: Principal, vm_id: uuid.UUID, body: ResizeBody
) -> tuple[Vm, Task]:
    """Claim the VM and its new size at once; the task applies it on the node.

    The new figures are written now, under the cluster's lock after a capacity check, so
    the host's placed counters hold them before the 202 leaves (two VMs growing on one
    host cannot overbook it); a failed task puts the previous figures back.
    """
    vm = get_vm(session, vm_id=vm_id)
    checks.resize_allowed(vm, body)
    previous = {field: int(getattr(vm, field)) for field in RESIZED}
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    wanted = {**previous, **changes}
    params = {**changes, "previous": previous}
    result = operate(session, actor=actor, vm_id=vm_id, op=Operation.RESIZE, params=params)
    if vm.host_id is not None and not vm.is_template:
        check_growth(
            session,
            cluster_id=vm.cluster_id,
            host_id=vm.host_id,
            vcpus=wanted["vcpus"] - previous["vcpus"],
            memory_mib=wanted["memory_mib"] - previous["memory_mib"],
        )
    for field, value in wanted.items():
        setattr(vm, field, value)
    session.flush()
    return result


def refusal(vm: Vm, op: Operation) -> Conflict:
    """Why ``op`` cannot start on ``vm``: busy, or in a state that does not allow it."""
    if vm.task_state is not None:
        return Conflict(
            f"VM {vm.name} is busy with {vm.task_state}; try again when it has finished",
            code="vm_busy",
            details={"task_state": vm.task_state},
        )
    allowed = sorted(s.value for s in RULES[op].allowed)
    return Conflict(
        f"cannot {op.value} VM {vm.name} while it is {vm.state.value}",
        code="vm_state_conflict",
        details={"state": vm.state.value, "allowed": allowed},
    )
