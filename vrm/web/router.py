"""The WebUI's pages (server-rendered Jinja2)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from vrm import __version__
from vrm.db import redact_url
from vrm.deps import SessionDep
from vrm.paths import TEMPLATES_DIR
from vrm.status import database_status
from vrm.web.service import overview

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=TEMPLATES_DIR)


@router.get("/", response_class=HTMLResponse)
def index(request: Request, session: SessionDep) -> HTMLResponse:
    """The front page: version, database state and inventory counts."""
    # One connection per request: the status probe runs in the request's own transaction.
    db = database_status(session)
    counts = overview(session) if db.ready else None
    context = {
        "version": __version__,
        "db": db,
        "database_url": redact_url(request.app.state.settings.database_url),
        "dialect": request.app.state.engine.dialect.name,
        "counts": counts,
    }
    return templates.TemplateResponse(request, "index.html", context)
