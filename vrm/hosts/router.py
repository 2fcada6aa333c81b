"""``/api/v1/hosts``."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, status
from fastapi.responses import JSONResponse

from vrm.deps import CurrentUser, SessionDep, TasksDep, Writer
from vrm.errors import Conflict, Forbidden, NotFound, ValidationFailed, error_responses
from vrm.hosts import maintenance, service
from vrm.hosts.schemas import HostRead, MaintenanceBody
from vrm.listing import ListDep, TextFilter
from vrm.models.enums import HostState
from vrm.schemas import Page
from vrm.tasks.schemas import TaskRead

router = APIRouter(prefix="/hosts", tags=["hosts"])


@router.get("", responses=error_responses(ValidationFailed))
def list_hosts(
    session: SessionDep,
    _user: CurrentUser,
    params: ListDep,
    cluster_id: uuid.UUID | None = None,
    state: HostState | None = None,
    name: TextFilter = None,
) -> Page[HostRead]:
    """List hosts, filtered by cluster, state or name."""
    filters = {"cluster_id": cluster_id, "state": state, "name": name}
    items, total = service.list_hosts(session, params=params, filters=filters)
    return Page(items=[HostRead.model_validate(h) for h in items], total=total)


@router.get("/{host_id}", responses=error_responses(NotFound))
def get_host(session: SessionDep, _user: CurrentUser, host_id: uuid.UUID) -> HostRead:
    """One host: its facts, state, usage and capabilities."""
    return HostRead.model_validate(service.get_host(session, host_id=host_id))


@router.delete(
    "/{host_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(Conflict, Forbidden, NotFound),
)
def delete_host(request: Request, session: SessionDep, user: Writer, host_id: uuid.UUID) -> None:
    """Remove a host that runs no VMs (its agent must enroll again to come back)."""
    service.delete_host(session, actor=user, host_id=host_id)
    # Its heartbeats are refused from now on (other VRM processes notice at their next write).
    request.app.state.heartbeats.forget(host_id)


@router.post(
    "/{host_id}/actions/enter-maintenance",
    responses=error_responses(Conflict, Forbidden, NotFound, ValidationFailed),
)
def enter_maintenance(
    session: SessionDep,
    runtime: TasksDep,
    user: Writer,
    host_id: uuid.UUID,
    body: MaintenanceBody | None = None,
) -> JSONResponse:
    """With ``dry_run``: the evacuation plan (each VM's target, or its blocker). Without:
    the host turns ``maintaining`` and a task moves its VMs away (202)."""
    body = body or MaintenanceBody()
    if body.dry_run:
        found = maintenance.plan(session, agent=runtime.agent, host_id=host_id)
        return JSONResponse(found.as_json())
    task = maintenance.enter(
        session, actor=user, settings=runtime.settings, host_id=host_id, timeout_s=body.timeout_s
    )
    read = TaskRead.model_validate(task).model_dump(mode="json")
    return JSONResponse({"task": read}, status_code=status.HTTP_202_ACCEPTED)


@router.post(
    "/{host_id}/actions/exit-maintenance",
    responses=error_responses(Conflict, Forbidden, NotFound),
)
def exit_maintenance(session: SessionDep, user: Writer, host_id: uuid.UUID) -> HostRead:
    """Return a host in maintenance to service."""
    return HostRead.model_validate(
        maintenance.exit_maintenance(session, actor=user, host_id=host_id)
    )
