"""Starting a migration: pre-checks, the claim on the target, and the task."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from vrm.audit.service import record
from vrm.auth.principal import Principal
from vrm.config import Settings
from vrm.crud import get_or_404
from vrm.errors import Conflict
from vrm.hosts.repository import HostRepository
from vrm.migration import checks, volumes
from vrm.migration.checks import AgentOf, DiskMove
from vrm.migration.schemas import ClusterMigration, MigrateBody
from vrm.models import Cluster, Datastore, Task, Vm, Volume
from vrm.models.enums import VmState
from vrm.tasks.flow import TaskRuntime
from vrm.tasks.service import queue_task
from vrm.tasks.types import TaskType
from vrm.vms.repository import VmRepository
from vrm.vms.service import KIND, refusal
from vrm.vms.states import RULES, Operation

MIB_PER_GIB = 1024


def migrate(
    session: Session, *, actor: Principal, runtime: TaskRuntime, vm_id: uuid.UUID, body: MigrateBody
) -> tuple[Vm, Task]:
    """Check, claim the target and queue the migration of a VM (live when it runs)."""
    vm, task = start(
        session,
        settings=runtime.settings,
        agent=runtime.agent,
        vm_id=vm_id,
        body=body,
        user_id=actor.user_id,
    )
    record(
        session,
        actor=actor,
        action="vm.migrate",
        target_type=KIND,
        target_id=vm.id,
        details={**{k: task.params[k] for k in _AUDITED}, "task_id": str(task.id)},
    )
    return vm, task


_AUDITED = ("source_host_id", "target_host_id", "live", "datastore_id")


def start(
    session: Session,
    *,
    settings: Settings,
    agent: AgentOf,
    vm_id: uuid.UUID,
    body: MigrateBody,
    user_id: uuid.UUID | None,
) -> tuple[Vm, Task]:
    """The pre-checks, the claim and the task of one migration, in ``session``.

    The session's transaction is rolled back once (after the scheduler's pick, before
    the nodes are asked): a caller commits what it wrote before calling.
    """
    repo = VmRepository(session)
    vm = _movable(repo, vm_id)
    if body.datastore_id is not None and body.host_id in (None, vm.host_id):
        return _move_storage(session, settings, repo, vm, body, user_id)
    disks = _disks(session, vm, body.datastore_id)
    target = checks.pick_target(session, vm, body.host_id, disks.move if disks else None)
    target_id, source_id = target.id, vm.host_id
    assert source_id is not None
    # The scheduler's pick locked the cluster: let go before asking the nodes.
    session.rollback()
    vm = _movable(repo, vm_id)
    disks = _disks(session, vm, body.datastore_id)
    move = disks.move if disks else None
    copy_host = None
    if disks is not None and vm.state != VmState.RUNNING:
        candidates = (source_id, target_id)
        copy_host = volumes.copy_host(session, vm, candidates, disks.move.volume_ids, disks.store)
    cluster = session.get(Cluster, vm.cluster_id)
    assert cluster is not None
    source, destination = agent(session, source_id), agent(session, target_id)
    checks.check_nodes(session, vm, cluster, source, destination)
    target = get_or_404(HostRepository(session), target_id, "host")
    checks.claim_target(session, settings, vm, target, move)
    previous = vm.state
    if vm.host_id != source_id or not repo.claim(vm.id, Operation.MIGRATE):
        session.refresh(vm)
        raise refusal(vm, Operation.MIGRATE)
    vm.migration_target_host_id = target_id  # claims the target's capacity (placed counters)
    task = _queue(
        session,
        settings,
        body,
        TaskType.VM_MIGRATE,
        vm=vm,
        cluster=cluster,
        previous=previous,
        hosts=(source_id, target_id),
        disks=disks,
        copy_host=copy_host,
        user_id=user_id,
    )
    return vm, task


def _move_storage(
    session: Session,
    settings: Settings,
    repo: VmRepository,
    vm: Vm,
    body: MigrateBody,
    user_id: uuid.UUID | None,
) -> tuple[Vm, Task]:
    """A datastore and no other host: the disks move, the VM stays (``vm.move-storage``)."""
    assert vm.host_id is not None
    checks.refuse_snapshots(session, vm)
    disks = _disks(session, vm, body.datastore_id)
    assert disks is not None
    host = get_or_404(HostRepository(session), vm.host_id, "host")
    checks.check_storage(session, vm, host, disks.move)
    checks.claim_space(session, host, disks.move)
    previous = vm.state
    if not repo.claim(vm.id, Operation.MIGRATE):
        session.refresh(vm)
        raise refusal(vm, Operation.MIGRATE)
    cluster = session.get(Cluster, vm.cluster_id)
    assert cluster is not None
    task = _queue(
        session,
        settings,
        body,
        TaskType.VM_MOVE_STORAGE,
        vm=vm,
        cluster=cluster,
        previous=previous,
        hosts=(host.id, host.id),
        disks=disks,
        copy_host=host.id,
        user_id=user_id,
    )
    return vm, task


def _queue(
    session: Session,
    settings: Settings,
    body: MigrateBody,
    type: TaskType,
    *,
    vm: Vm,
    cluster: Cluster,
    previous: VmState,
    hosts: tuple[uuid.UUID, uuid.UUID],
    disks: _Disks | None,
    copy_host: uuid.UUID | None,
    user_id: uuid.UUID | None,
) -> Task:
    """The task of a claimed move (the disks' copies made as rows now: after the claim,
    they hold the datastore's space from here on)."""
    policy = ClusterMigration.model_validate(cluster.migration_policy).policy(
        body, completion_timeout_s=_completion_timeout(settings, vm, disks)
    )
    params: dict[str, Any] = {
        "previous_state": previous.value,
        "source_host_id": str(hosts[0]),
        "target_host_id": str(hosts[1]),
        "live": previous == VmState.RUNNING,
        "policy": policy.model_dump(mode="json"),
        "datastore_id": str(disks.store.id) if disks else None,
    }
    if disks is not None:
        moves = volumes.new_volumes(session, vm, disks.store, disks.disks)
        params[volumes.MOVES] = [m.to_json() for m in moves]
        params[volumes.COPY_HOST] = str(copy_host) if copy_host else None
    return queue_task(
        session, type=type, target_type=KIND, target_id=vm.id, user_id=user_id, params=params
    )


def _movable(repo: VmRepository, vm_id: uuid.UUID) -> Vm:
    """The VM with its devices, refused early when it cannot migrate now."""
    vm = repo.full(vm_id) or get_or_404(repo, vm_id, KIND)
    if vm.task_state is not None or vm.state not in RULES[Operation.MIGRATE].allowed:
        raise refusal(vm, Operation.MIGRATE)
    if vm.host_id is None:
        raise Conflict(f"VM {vm.name} is not placed on a host", code="vm_not_placed")
    return vm


@dataclass(frozen=True, slots=True)
class _Disks:
    """The disks that move (device, volume) and the datastore they go to."""

    store: Datastore
    disks: list[tuple[str, Volume]]

    @property
    def move(self) -> DiskMove:
        """What the checks and the claim need of it."""
        return DiskMove(
            datastore_id=self.store.id,
            volume_ids=frozenset(volume.id for _device, volume in self.disks),
            mib=sum(volume.capacity_mib for _device, volume in self.disks),
        )


def _disks(session: Session, vm: Vm, datastore_id: uuid.UUID | None) -> _Disks | None:
    """The disks that move to ``datastore_id`` with the VM, or None (they stay)."""
    if datastore_id is None:
        return None
    store = volumes.target_datastore(session, vm, datastore_id)
    return _Disks(store, volumes.moving(session, vm, store))


def _completion_timeout(settings: Settings, vm: Vm, disks: _Disks | None) -> float:
    """The time limit of a live migration: per GiB of memory and of the disks it copies,
    never below the minimum."""
    mib = vm.memory_mib + (disks.move.mib if disks else 0)
    per_gib = settings.migration_timeout_s_per_gib * mib / MIB_PER_GIB
    return max(settings.migration_min_timeout_s, per_gib)
