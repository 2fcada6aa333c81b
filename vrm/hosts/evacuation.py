"""The ``host.enter-maintenance`` flow: move every VM off a ``maintaining`` host.

Each VM moves through its own ``vm.migrate`` task (live when running, cold when
stopped), as many at once as the per-host limits allow; this task follows them and
keeps a per-VM outcome in its result. The step is resumable: after a VRM restart it
reads which VMs are still on the host and which of its migrations still run.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from vrm.agents.repository import HostStateRepository
from vrm.errors import VrmError
from vrm.events.emit import emit
from vrm.hosts.maintenance import MOVABLE, vms_on
from vrm.hosts.states import Transition
from vrm.migration import service as migration
from vrm.migration.schemas import MigrateBody
from vrm.models import Host, Task, Vm
from vrm.models.base import utcnow
from vrm.models.enums import Severity, TaskState
from vrm.tasks.flow import Flow, TaskFailure
from vrm.tasks.repository import TaskRepository
from vrm.tasks.types import TaskType

POLL_S = 1.0
# Refusals that only mean "not now": the migration is tried again on the next round.
_LATER = {"migration_limit_reached", "vm_busy"}
_ENDED = {TaskState.SUCCEEDED, TaskState.FAILED, TaskState.CANCELLED}


class EvacuateFlow(Flow):
    """Move the host's VMs away, then put the host in maintenance."""

    type = TaskType.HOST_ENTER_MAINTENANCE
    steps = ("evacuate", "settle")
    cancellable = True

    @property
    def host(self) -> Host:
        host = self.ctx.session.get(Host, self.ctx.task.target_id)
        if host is None:
            raise TaskFailure("the host was removed", code="host_not_found")
        return host

    @property
    def outcomes(self) -> dict[str, dict[str, Any]]:
        """Per VM id: name, action, target, child task, state and error."""
        found: dict[str, dict[str, Any]] = self.ctx.task.result.get("vms", {})
        return found

    def evacuate(self) -> None:
        """Start migrations until the host is empty, following them to their end."""
        deadline = float(self.ctx.params["deadline"])
        while True:
            outcomes = {k: dict(v) for k, v in self.outcomes.items()}
            self._follow(outcomes)
            remaining = self._remaining()
            if self._cancel_requested():
                self._stop_children(outcomes)
                self._save(outcomes)
                raise TaskFailure("the evacuation was cancelled", code="maintenance_cancelled")
            started = [vm for vm in remaining if self._start(vm, outcomes)]
            self._save(outcomes)
            in_flight = [o for o in outcomes.values() if o.get("state") == "moving"]
            if not remaining and not in_flight:
                break
            stuck = [o for o in outcomes.values() if o.get("state") == "failed"]
            if not in_flight and not started and stuck and _all_tried(remaining, outcomes):
                break
            if time.time() > deadline:
                self._stop_children(outcomes)
                self._save(outcomes)
                raise TaskFailure(
                    f"the evacuation did not end within {self.ctx.params['timeout_s']} s; "
                    f"still on the host: {_names(remaining)}",
                    code="maintenance_timeout",
                )
            time.sleep(POLL_S)
        failed = [o for o in self.outcomes.values() if o.get("state") == "failed"]
        if failed or self._remaining():
            names = ", ".join(f"{o['name']} ({o.get('error', {}).get('code')})" for o in failed)
            raise TaskFailure(
                f"VMs could not leave host {self.host.name}: {names or _names(self._remaining())}",
                code="maintenance_blocked",
            )

    def settle(self) -> None:
        """The host is empty: it is in maintenance now."""
        if self._remaining():
            raise TaskFailure("a VM arrived on the host meanwhile", code="maintenance_blocked")
        if not HostStateRepository(self.ctx.session).apply(self.host.id, Transition.EVACUATED):
            raise TaskFailure(
                f"host {self.host.name} is {self.host.state.value}, no longer maintaining",
                code="host_state_conflict",
            )
        emit(
            self.ctx.session,
            type="host_maintenance",
            target_type="host",
            target_id=self.host.id,
            task_id=self.ctx.task.id,
            message=f"host {self.host.name} is in maintenance: it is empty",
        )

    def compensate(self, failure: TaskFailure) -> None:
        """The host goes back to service; migrations still running are asked to stop."""
        self._stop_children({k: dict(v) for k, v in self.outcomes.items()})
        if HostStateRepository(self.ctx.session).apply(self.host.id, Transition.EVACUATION_ENDED):
            emit(
                self.ctx.session,
                type="host_in_service",
                severity=Severity.MAJOR,
                target_type="host",
                target_id=self.host.id,
                task_id=self.ctx.task.id,
                message=f"host {self.host.name} is normal again: {failure.message}",
            )

    def release(self) -> None:
        """Cancelled before it ran: the host goes back to service."""
        HostStateRepository(self.ctx.session).apply(self.host.id, Transition.EVACUATION_ENDED)

    # -- helpers ------------------------------------------------------------------------

    def _remaining(self) -> list[Vm]:
        return vms_on(self.ctx.session, self.host.id)

    def _start(self, vm: Vm, outcomes: dict[str, dict[str, Any]]) -> bool:
        """Start one VM's migration unless it runs, failed or must wait; whether it did."""
        known = outcomes.get(str(vm.id), {})
        if known.get("state") in ("moving", "failed"):
            return False
        outcome = {"name": vm.name, "action": MOVABLE.get(vm.state)}
        if vm.state not in MOVABLE and vm.task_state is None:
            outcomes[str(vm.id)] = {
                **outcome,
                "state": "failed",
                "error": {"code": "vm_state_conflict", "message": f"it is {vm.state.value}"},
            }
            return False
        self.ctx.session.commit()  # the migration's pre-checks roll back once
        try:
            _vm, task = migration.start(
                self.ctx.session,
                settings=self.ctx.settings,
                agent=lambda _session, host_id: self.ctx.agent(host_id),
                vm_id=vm.id,
                body=MigrateBody(),
                user_id=self.ctx.task.user_id,
            )
        except VrmError as exc:
            self.ctx.session.rollback()
            if exc.code in _LATER:
                outcomes[str(vm.id)] = {**outcome, "state": "waiting", "error": _error(exc)}
                return False
            outcomes[str(vm.id)] = {**outcome, "state": "failed", "error": _error(exc)}
            return False
        outcomes[str(vm.id)] = {
            **outcome,
            "state": "moving",
            "task_id": str(task.id),
            "target_host_id": task.params["target_host_id"],
        }
        self.ctx.session.commit()
        return True

    def _follow(self, outcomes: dict[str, dict[str, Any]]) -> None:
        """Record how the migrations this task started ended."""
        repo = TaskRepository(self.ctx.session)
        for outcome in outcomes.values():
            if outcome.get("state") != "moving":
                continue
            child = repo.get(uuid.UUID(outcome["task_id"]))
            if child is None or child.state not in _ENDED:
                continue
            if child.state == TaskState.SUCCEEDED:
                outcome["state"] = "moved"
            else:
                outcome["state"] = "failed"
                outcome["error"] = {"code": child.error_code, "message": child.error_message}

    def _stop_children(self, outcomes: dict[str, dict[str, Any]]) -> None:
        repo = TaskRepository(self.ctx.session)
        for outcome in outcomes.values():
            if outcome.get("state") == "moving":
                repo.request_cancel(uuid.UUID(outcome["task_id"]), utcnow())

    def _save(self, outcomes: dict[str, dict[str, Any]]) -> None:
        task: Task = self.ctx.task
        task.result = {**task.result, "vms": outcomes}
        total = len(outcomes) or 1
        done = sum(1 for o in outcomes.values() if o.get("state") == "moved")
        task.progress = min(95, done * 95 // total)
        task.heartbeat_at = utcnow()
        self.ctx.session.commit()

    def _cancel_requested(self) -> bool:
        self.ctx.session.refresh(self.ctx.task, ["cancel_requested_at"])
        return self.ctx.task.cancel_requested_at is not None


def _all_tried(remaining: list[Vm], outcomes: dict[str, dict[str, Any]]) -> bool:
    """Every VM still on the host has failed (none is waiting for a free slot)."""
    return all(outcomes.get(str(vm.id), {}).get("state") == "failed" for vm in remaining)


def _names(vms: list[Vm]) -> str:
    return ", ".join(vm.name for vm in vms) or "none"


def _error(exc: VrmError) -> dict[str, str]:
    return {"code": exc.code, "message": exc.message}
