"""``/api/v1/system/load``: how busy this VRM process is (for operators and tests)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from vrm.deps import CurrentUser
from vrm.load.schemas import LoadRead
from vrm.load.service import load_of

router = APIRouter(prefix="/system", tags=["system"])


@router.get("/load")
async def get_load(request: Request, _user: CurrentUser) -> LoadRead:
    """Event-loop lateness, database turns and heartbeat figures of the process answering."""
    return load_of(request.app.state)
