"""``/healthz`` (the process answers) and ``/readyz`` (it can serve: database up and current)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from vrm.deps import db_turn
from vrm.errors import ServiceUnavailable, error_responses
from vrm.status import database_status

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """Liveness: the process is up."""
    return {"status": "ok"}


@router.get("/readyz", responses=error_responses(ServiceUnavailable))
def readyz(request: Request, _turn: Annotated[None, Depends(db_turn)]) -> dict[str, Any]:
    """Readiness: 503 when the database is unreachable or not at the latest migration."""
    db = database_status(request.app.state.engine)
    if not db.reachable:
        raise ServiceUnavailable(
            "the database is unreachable", code="database_unreachable", details={"error": db.error}
        )
    if not db.ready:
        raise ServiceUnavailable(
            f"the database is at migration {db.revision}, the code needs {db.head}; "
            "run `vrm db upgrade`",
            code="database_not_migrated",
            details={"revision": db.revision, "head": db.head},
        )
    return {"status": "ready", "database": {"revision": db.revision}}
