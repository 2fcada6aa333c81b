"""The dashboard: the state of the whole system at a glance."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from vrm.deps import SessionDep
from vrm.web.deps import PageUser
from vrm.web.render import page
from vrm.web.service import overview

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
def dashboard(request: Request, session: SessionDep, user: PageUser) -> HTMLResponse:
    """Counts of clusters, hosts and VMs."""
    return page(request, "dashboard.html", user=user, section="dashboard", counts=overview(session))
