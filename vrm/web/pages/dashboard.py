"""The dashboard: the state of the whole system at a glance, kept live by the change feed."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from vrm.deps import SessionDep
from vrm.models.enums import HostState, Severity, VmState
from vrm.web.deps import PageUser
from vrm.web.pages.tasks import TASK_LABELS
from vrm.web.render import page
from vrm.web.service import dashboard as figures

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
def dashboard(request: Request, session: SessionDep, user: PageUser) -> HTMLResponse:
    """Counts by state, allocation per cluster, datastores, alarms, tasks and host usage."""
    return page(
        request,
        "dashboard.html",
        user=user,
        section="dashboard",
        board=figures(session),
        task_labels=TASK_LABELS,
        host_states=list(HostState),
        vm_states=list(VmState),
        severities=list(reversed(Severity)),
    )
