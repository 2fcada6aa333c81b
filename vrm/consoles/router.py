"""``/api/v1/vms/{id}/console``: a one-time ticket, and the websocket that spends it.

The websocket is not behind the API's bearer dependency (browsers cannot set headers
on a websocket, and a request's session and admission turn would be held for the whole
relay): its ticket is its credential, checked in two short transactions before
anything is relayed, and refusals are HTTP answers in the one error shape.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Request, WebSocket, status
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from starlette.concurrency import run_in_threadpool
from websockets.asyncio.client import ClientConnection

from vrm.agents.client import AgentCallError
from vrm.consoles import relay, service
from vrm.consoles.schemas import ConsoleCreate, ConsoleTicketIssued
from vrm.db import SessionScope
from vrm.deps import CurrentUser, SessionDep
from vrm.errors import (
    Conflict,
    NotFound,
    Overloaded,
    Unauthorized,
    ValidationFailed,
    VrmError,
    error_responses,
)
from vrm.load.admission import Admission

log = logging.getLogger(__name__)

router = APIRouter(prefix="/vms", tags=["consoles"])

DENIAL_EXTENSION = "websocket.http.response"
DATABASE_BUSY = "the database cannot serve this now; try again"


@dataclass(frozen=True, slots=True)
class ConsoleDb:
    """Short transactions for a console websocket: one that writes, one that reads."""

    write: SessionScope
    read: SessionScope


def console_db(websocket: WebSocket) -> ConsoleDb:
    """The app's short transactions (``vrm.deps.in_session`` uses them too)."""
    state = websocket.app.state
    return ConsoleDb(write=state.write_scope, read=state.read_scope)


ConsoleDbDep = Annotated[ConsoleDb, Depends(console_db)]


@router.post(
    "/{vm_id}/console",
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(Unauthorized, NotFound, Conflict, ValidationFailed),
)
def create_console_ticket(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    vm_id: uuid.UUID,
    body: ConsoleCreate | None = None,
) -> ConsoleTicketIssued:
    """A one-time ticket (30 s) to the VNC or serial console of a running or paused VM."""
    kind = (body or ConsoleCreate()).type
    issued = service.issue_ticket(session, actor=user, vm_id=vm_id, type=kind)
    path = request.app.url_path_for("console_websocket", vm_id=str(vm_id))
    return ConsoleTicketIssued(
        ticket=issued.token,
        url=f"{path}?ticket={issued.token}",
        expires_at=issued.expires_at,
        type=issued.type,
        vm_id=vm_id,
    )


@router.websocket("/{vm_id}/console/ws", name="console_websocket")
async def console_websocket(
    websocket: WebSocket, db: ConsoleDbDep, vm_id: uuid.UUID, ticket: str = ""
) -> None:
    """Spend ``ticket`` and relay the VM's console from its current host (binary frames)."""
    target = await _target_or_deny(websocket, db, vm_id=vm_id, token=ticket)
    if target is None:
        return
    try:
        agent = await relay.open_agent(target)
    except AgentCallError as exc:
        log.warning("console of VM %s on host %s: %s", target.vm_id, target.host_id, exc.message)
        await relay.refuse(websocket, exc)
        return
    try:
        async with agent:
            await websocket.accept(subprotocol=relay.subprotocol_for(websocket))
            await _watch(websocket, agent, target)
    finally:
        # Cancelled (the server stopping), the closing handshake may never end: drop the
        # socket rather than leave it to the garbage collector. A no-op once closed.
        agent.transport.abort()


async def _target_or_deny(
    websocket: WebSocket, db: ConsoleDb, *, vm_id: uuid.UUID, token: str
) -> service.ConsoleTarget | None:
    """Where the console is, within an admission turn; None once the handshake is denied."""
    state = websocket.app.state
    admission: Admission = state.admission
    key: str = state.settings.secret_key
    try:
        async with admission.turn():
            return await run_in_threadpool(_open, db, token=token, vm_id=vm_id, secret_key=key)
    except VrmError as exc:
        await _deny(websocket, exc)
    except OperationalError as exc:
        log.warning("database error opening a console of VM %s: %s", vm_id, exc.orig)
        await _deny(websocket, Overloaded(DATABASE_BUSY, code="database_busy", retry_after_s=1))
    return None


async def _watch(
    websocket: WebSocket, agent: ClientConnection, target: service.ConsoleTarget
) -> None:
    """Relay until one side closes, saying who watched what for how long."""
    what = f"{target.type} console of VM {target.vm_name} ({target.vm_id})"
    log.info("%s on host %s opened for user %s", what, target.host_id, target.user_id)
    began = time.monotonic()
    closing = await relay.relay(websocket, agent)
    log.info(
        "%s closed by the %s after %.1f s: %d %s",
        what,
        closing.by,
        time.monotonic() - began,
        closing.code,
        closing.reason,
    )


def _open(db: ConsoleDb, *, token: str, vm_id: uuid.UUID, secret_key: str) -> service.ConsoleTarget:
    """Spend the ticket (committed whatever follows), then find the console's host."""
    with db.write() as session:
        spent = service.spend_ticket(session, token=token)
    with db.read() as session:
        return service.console_target(session, ticket=spent, vm_id=vm_id, secret_key=secret_key)


async def _deny(websocket: WebSocket, error: VrmError) -> None:
    """Refuse the handshake with ``error`` as an HTTP answer in the one error shape.

    Servers without the denial extension get a websocket closed with 4000 + the status.
    """
    if DENIAL_EXTENSION not in websocket.scope.get("extensions", {}):
        await websocket.accept()
        await relay.close_viewer(websocket, 4000 + error.status, error.message)
        return
    headers = {}
    if error.retry_after_s is not None:
        headers["Retry-After"] = str(error.retry_after_s)
    response = JSONResponse(error.body(), status_code=error.status, headers=headers)
    await websocket.send_denial_response(response)
