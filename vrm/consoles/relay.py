"""The console relay: bytes both ways between a viewer's websocket and the agent's.

VRM opens the agent's console websocket (``CONSOLE_WS_PATH``) with its credential for
the host and pumps binary frames in both directions. Whichever side closes first, the
other is closed with the same code and reason, so a refusal by the agent ("console
busy", 4423) reaches the viewer with its message.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlencode, urlsplit, urlunsplit

from starlette.websockets import WebSocket, WebSocketDisconnect
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.frames import EXTERNAL_CLOSE_CODES, CloseCode

from cna_agent.protocol.consoles import CONSOLE_WS_PATH
from vrm.agents.client import AgentCallError, AgentRejected, AgentUnreachable, tls_context
from vrm.consoles.service import ConsoleTarget

log = logging.getLogger(__name__)

OPEN_TIMEOUT_S = 10.0
# As large as uvicorn lets a viewer send; the agent chooses how it cuts the stream.
MAX_MESSAGE_BYTES = 16 * 2**20
# A close frame carries at most 125 bytes: the code, then the reason.
MAX_REASON_BYTES = 123
FAILED = int(CloseCode.INTERNAL_ERROR)  # 1011

Side = Literal["viewer", "agent"]


@dataclass(frozen=True, slots=True)
class Closing:
    """Who closed the relay first, with which code and reason."""

    by: Side
    code: int
    reason: str


def agent_ws_url(target: ConsoleTarget) -> str:
    """The agent's console websocket for ``target`` (``wss`` for an https agent)."""
    base = urlsplit(target.agent_url)
    scheme = "wss" if base.scheme == "https" else "ws"
    path = base.path.rstrip("/") + CONSOLE_WS_PATH.format(uuid=target.vm_uuid)
    query = urlencode({"type": target.type.value, "exclusive": str(target.exclusive).lower()})
    return urlunsplit((scheme, base.netloc, path, query, ""))


async def open_agent(target: ConsoleTarget) -> ClientConnection:
    """Connect to the console on the VM's node; ``AgentCallError`` when that fails."""
    url = agent_ws_url(target)
    options: dict[str, Any] = {}
    if url.startswith("wss:"):
        # The first call loads the CA certificates: not on the event loop.
        options["ssl"] = await asyncio.to_thread(tls_context)
    try:
        return await connect(
            url,
            additional_headers={"Authorization": f"Bearer {target.credential}"},
            proxy=None,  # the agent channel is direct, whatever the environment says
            compression=None,  # VNC encodes its own; deflating costs CPU on both ends
            open_timeout=OPEN_TIMEOUT_S,
            max_size=MAX_MESSAGE_BYTES,
            **options,
        )
    except InvalidStatus as exc:
        status = exc.response.status_code
        message = f"the node refused the console (HTTP {status})"
        raise AgentRejected(
            message, code="console_refused", status=status, retryable=False
        ) from exc
    except (OSError, InvalidHandshake, TimeoutError) as exc:
        message = f"the node's agent is unreachable: {exc}"
        raise AgentUnreachable(
            message, code="agent_unreachable", status=None, retryable=True
        ) from exc


async def refuse(viewer: WebSocket, error: AgentCallError) -> None:
    """Accept the viewer only to close it with 1011 and why (the agent could not be asked)."""
    await viewer.accept(subprotocol=subprotocol_for(viewer))
    await close_viewer(viewer, FAILED, error.message)


def subprotocol_for(viewer: WebSocket) -> str | None:
    """``binary`` when the viewer offers it (noVNC does), else none."""
    return "binary" if "binary" in viewer.scope.get("subprotocols", []) else None


async def relay(viewer: WebSocket, agent: ClientConnection) -> Closing:
    """Pump frames both ways until one side closes; close the other alike."""
    pumps = [
        asyncio.create_task(_viewer_to_agent(viewer, agent)),
        asyncio.create_task(_agent_to_viewer(agent, viewer)),
    ]
    try:
        done, _pending = await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for pump in pumps:
            pump.cancel()
        await asyncio.gather(*pumps, return_exceptions=True)
    closing = next(iter(done)).result()
    if closing.by == "agent":
        await close_viewer(viewer, closing.code, closing.reason)
    else:
        await agent.close(_sendable(closing.code, CloseCode.NORMAL_CLOSURE), _cut(closing.reason))
    return closing


async def close_viewer(viewer: WebSocket, code: int, reason: str) -> None:
    """Close the viewer's websocket with ``code`` and ``reason``, unless it is gone."""
    try:
        await viewer.close(_sendable(code, FAILED), _cut(reason))
    except (RuntimeError, WebSocketDisconnect, OSError):
        log.debug("the console viewer was already gone")


async def _viewer_to_agent(viewer: WebSocket, agent: ClientConnection) -> Closing:
    while True:
        message = await viewer.receive()
        if message["type"] == "websocket.disconnect":
            code = int(message.get("code") or CloseCode.NO_STATUS_RCVD)
            return Closing("viewer", code, str(message.get("reason") or ""))
        data = message.get("bytes")
        # A text frame (a terminal user's line) goes on as its UTF-8 bytes.
        payload: bytes = data if data is not None else str(message.get("text", "")).encode()
        try:
            await agent.send(payload)
        except ConnectionClosed as exc:
            return _agent_closed(exc)


async def _agent_to_viewer(agent: ClientConnection, viewer: WebSocket) -> Closing:
    while True:
        try:
            data = await agent.recv()
        except ConnectionClosed as exc:
            return _agent_closed(exc)
        try:
            if isinstance(data, str):
                await viewer.send_text(data)
            else:
                await viewer.send_bytes(data)
        except WebSocketDisconnect as exc:
            return Closing("viewer", exc.code, exc.reason)


def _agent_closed(exc: ConnectionClosed) -> Closing:
    if exc.rcvd is None:
        return Closing("agent", FAILED, "the connection to the node's console dropped")
    return Closing("agent", exc.rcvd.code, exc.rcvd.reason)


def _sendable(code: int, fallback: int) -> int:
    """``code`` if a close frame may carry it (not 1005, 1006, 1015...), else ``fallback``."""
    if code == CloseCode.NO_STATUS_RCVD:
        return int(CloseCode.NORMAL_CLOSURE)
    return code if code in EXTERNAL_CLOSE_CODES or 3000 <= code < 5000 else int(fallback)


def _cut(reason: str) -> str:
    """``reason`` cut to what a close frame holds, on a character boundary."""
    return reason.encode()[:MAX_REASON_BYTES].decode(errors="ignore")
