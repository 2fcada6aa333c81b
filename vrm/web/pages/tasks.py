"""The task centre: every task in a server-side table with live progress, and one task."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from vrm.deps import SessionDep, TasksDep
from vrm.flows import all_flows
from vrm.models.enums import TaskState
from vrm.tasks import service
from vrm.tasks.types import TaskType
from vrm.web.deps import PageUser
from vrm.web.render import page
from vrm.web.tables import TableSpec, TableState
from vrm.web.tasks_repository import TaskPageRepository

router = APIRouter(include_in_schema=False)

# A person's name for each task type (msgids of the catalogues; unknown types show as is).
TASK_LABELS = {
    "vm.create": "Create VM",
    "vm.start": "Start VM",
    "vm.stop": "Stop VM",
    "vm.reboot": "Reboot VM",
    "vm.pause": "Pause VM",
    "vm.resume": "Resume VM",
    "vm.resize": "Resize VM",
    "vm.delete": "Delete VM",
    "vm.clone": "Clone VM",
    "vm.convert-to-template": "Convert VM to template",
    "vm.snapshot": "VM snapshot",
    "vm.change-media": "Change CD-ROM medium",
    "vm.attach-disk": "Attach disk",
    "vm.detach-disk": "Detach disk",
    "vm.attach-nic": "Attach NIC",
    "vm.detach-nic": "Detach NIC",
    "vm.set-ips": "Change IP addresses",
    "vm.export-image": "Export template as image",
    "image.import": "Import image",
    "image.upload": "Upload image",
    "image.delete": "Delete image",
    "host.sync_networks": "Synchronize host networks",
    "host.mount_datastore": "Attach datastore to host",
    "host.enter-maintenance": "Enter maintenance mode",
    "vm.migrate": "Migrate VM",
    "vm.move-storage": "Move VM disks",
}
# What to do about the errors tasks end with most often (msgids; other codes get none).
ERROR_HINTS = {
    "no_valid_host": "No host can take the VM: check that hosts are normal, their free "
    "capacity and the cluster's placement rules.",
    "insufficient_capacity": "The host lacks free vCPUs or memory: stop or move other VMs, "
    "or ask for less.",
    "insufficient_space": "The datastore is too full: free space or choose another datastore.",
    "datastore_full": "The datastore is too full: free space or choose another datastore.",
    "agent_unreachable": "VRM cannot reach the host's agent: check that the host is up and "
    "its agent runs; the task tries again by itself.",
    "stop_timeout": "The guest did not shut down in time: try again, or use Power off now.",
    "operation_wait_timeout": "The host took too long: look at the host, then try again.",
    "vm_state_conflict": "The VM's state does not allow this now: wait for it to settle.",
    "vm_busy": "Another task runs on this VM: wait for it to end.",
    "maintenance_blocked": "Some VMs could not move: see each VM's outcome, fix it, try again.",
    "migration_aborted": "The migration was stopped; the VM runs on its source host.",
    "migration_timeout": "The migration did not converge in time: allow more bandwidth.",
    "volume_in_use": "A linked clone still uses this volume: delete the clone first.",
    "image_not_ready": "The image is not ready yet: wait for its upload or import to end.",
    "snapshot_not_found": "The VM has no snapshot of that name any more: reload the page.",
    "domain_not_found": "The host does not know this VM: its heartbeat will correct the state.",
    "ip_pool_exhausted": "The port group's IP pool has no free address: widen its ranges.",
}


class Cancellable:
    """Which tasks the page offers to cancel: queued ones, and running ones whose flows
    stop on request (the API's rule, from the flow registry)."""

    def __init__(self, running_types: frozenset[str]) -> None:
        self.running_types = running_types

    def allows(self, task: Any) -> bool:
        state = TaskState(task.state)
        return state == TaskState.QUEUED or (
            state == TaskState.RUNNING and str(task.type) in self.running_types
        )


CANCELLABLE = Cancellable(frozenset(str(t) for t, flow in all_flows().items() if flow.cancellable))


def task_table(request: Request) -> TableState:
    """The task centre's table state (the task types known to this VRM may be filtered on)."""
    spec = TableSpec(
        sortable=("created_at", "updated_at", "state", "type"),
        default_sort="-created_at",
        filters={
            "state": frozenset(state.value for state in TaskState),
            "type": frozenset(TaskType),
            "target_type": frozenset({"vm", "host", "cluster", "image"}),
            "target_id": None,
        },
        search=None,
    )
    return spec.read(request)


@router.get("/tasks", response_class=HTMLResponse)
def task_list(request: Request, session: SessionDep, user: PageUser) -> HTMLResponse:
    """Every task, newest first: live progress, errors with hints, cancel where allowed."""
    table = task_table(request)
    repo = TaskPageRepository(session)
    rows, total = repo.page(table.params, table.where())
    return page(
        request,
        "tasks/list.html",
        user=user,
        section="tasks",
        table=table,
        tasks=rows,
        total=total,
        names=repo.target_names(rows),
        states=list(TaskState),
        types=sorted(TaskType),
        **task_words(),
    )


@router.get("/tasks/{task_id}", response_class=HTMLResponse)
def task_detail(
    request: Request, session: SessionDep, runtime: TasksDep, user: PageUser, task_id: uuid.UUID
) -> HTMLResponse:
    """One task: what it was asked, how far it got, how it ended."""
    task = service.get_task(session, task_id=task_id)
    repo = TaskPageRepository(session)
    flow = runtime.flows.get(TaskType(task.type)) if task.type in set(TaskType) else None
    return page(
        request,
        "tasks/detail.html",
        user=user,
        section="tasks",
        task=task,
        target_name=repo.name_of(task.target_type, task.target_id),
        user_name=repo.user_name(task.user_id),
        steps=list(flow.steps) if flow else [],
        **task_words(),
    )


def task_words() -> dict[str, Any]:
    """What every page showing tasks needs to name them and explain their errors."""
    return {
        "task_labels": TASK_LABELS,
        "error_hints": ERROR_HINTS,
        "cancellable": CANCELLABLE,
    }
