"""The relay between a viewer and the agent: frames both ways, closes passed on."""

from __future__ import annotations

import asyncio
import socket
import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session
from starlette.types import Message
from starlette.websockets import WebSocket, WebSocketDisconnect

from cna_agent.protocol.consoles import ConsoleClose, ConsoleType
from tests.vrm.consoles.fake_agent import FakeAgent
from vrm.agents.credentials import vrm_credential
from vrm.config import Settings
from vrm.consoles import relay
from vrm.consoles.router import _deny
from vrm.consoles.service import ConsoleTarget
from vrm.errors import Unauthorized
from vrm.models import Host, Vm


def connect_url(client: TestClient, vm: Vm, kind: str = "vnc") -> str:
    response = client.post(f"/api/v1/vms/{vm.id}/console", json={"type": kind})
    assert response.status_code == 201, response.text
    return str(response.json()["url"])


def closing_of(client: TestClient, url: str) -> WebSocketDisconnect:
    """How VRM closes a console websocket it accepted without relaying anything."""
    with client.websocket_connect(url) as ws:
        message = ws.receive()
    assert message["type"] == "websocket.close", message
    return WebSocketDisconnect(message["code"], message.get("reason"))


def test_frames_go_both_ways_with_vrms_credential(
    client: TestClient, settings: Settings, vm: Vm, host: Host, agent: FakeAgent
) -> None:
    with client.websocket_connect(connect_url(client, vm), subprotocols=["binary"]) as ws:
        assert ws.accepted_subprotocol == "binary", "noVNC asks for it"
        assert ws.receive_bytes() == b"RFB 003.008\n"
        ws.send_bytes(b"RFB 003.008\n")
        assert ws.receive_bytes() == b"echo:RFB 003.008\n"
        ws.send_text("ls\n")
        assert ws.receive_bytes() == b"echo:ls\n", "text frames go on as their bytes"
        ws.close(1000)
        seen = agent.last()  # before the test client cancels the app
    assert seen.path == f"/v1/vms/{vm.uuid}/console/ws?type=vnc&exclusive=false"
    assert seen.headers["Authorization"] == f"Bearer {vrm_credential(settings.secret_key, host.id)}"
    assert seen.received == [b"RFB 003.008\n", b"ls\n"]
    assert seen.close_code == 1000, "the viewer's close reaches the agent"


def test_serial_and_exclusive_are_asked_of_the_agent(
    client: TestClient, session: Session, vm: Vm, agent: FakeAgent
) -> None:
    vm.console_exclusive = True
    session.commit()
    with client.websocket_connect(connect_url(client, vm, "serial")) as ws:
        assert ws.accepted_subprotocol is None, "none offered, none chosen"
        ws.receive_bytes()
        ws.close(1001, "tab closed")
        seen = agent.last()
    assert seen.path.endswith("?type=serial&exclusive=true")
    assert (seen.close_code, seen.close_reason) == (1001, "tab closed")


def test_an_agents_refusal_reaches_the_viewer_with_its_reason(
    client: TestClient, vm: Vm, agent: FakeAgent
) -> None:
    agent.close_with = (ConsoleClose.BUSY, "console busy: someone else is watching")
    closed = closing_of(client, connect_url(client, vm))
    assert closed.code == ConsoleClose.BUSY
    assert closed.reason == "console busy: someone else is watching"


def test_an_unreachable_agent_closes_with_1011(
    client: TestClient, session: Session, vm: Vm, host: Host
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    host.agent_url = f"http://127.0.0.1:{port}"  # nobody listens there
    session.commit()
    closed = closing_of(client, connect_url(client, vm))
    assert closed.code == 1011
    assert "unreachable" in closed.reason


def test_an_agent_refusing_the_handshake_closes_with_1011(
    client: TestClient, vm: Vm, agent: FakeAgent
) -> None:
    agent.refuse_status = 403
    closed = closing_of(client, connect_url(client, vm))
    assert closed.code == 1011
    assert closed.reason == "the node refused the console (HTTP 403)"


def target(agent_url: str, *, exclusive: bool = False) -> ConsoleTarget:
    return ConsoleTarget(
        vm_id=uuid.uuid4(),
        vm_uuid=uuid.UUID(int=7),
        vm_name="vm",
        user_id=uuid.uuid4(),
        host_id=uuid.uuid4(),
        agent_url=agent_url,
        type=ConsoleType.SERIAL,
        exclusive=exclusive,
        credential="cnav_secret",
    )


def test_agent_urls() -> None:
    vm_path = f"/v1/vms/{uuid.UUID(int=7)}/console/ws"
    assert relay.agent_ws_url(target("http://10.0.0.5:7070")) == (
        f"ws://10.0.0.5:7070{vm_path}?type=serial&exclusive=false"
    )
    assert relay.agent_ws_url(target("https://node-a:7443/agent/", exclusive=True)) == (
        f"wss://node-a:7443/agent{vm_path}?type=serial&exclusive=true"
    )
    assert "cnav_secret" not in repr(target("http://x")), "the credential is never logged"


@pytest.mark.parametrize(
    ("code", "fallback", "sent"),
    [
        (1000, 1011, 1000),
        (4423, 1011, 4423),
        (1005, 1011, 1000),
        (1006, 1011, 1011),
        (999, 1000, 1000),
    ],
)
def test_only_sendable_close_codes_are_passed_on(code: int, fallback: int, sent: int) -> None:
    assert relay._sendable(code, fallback) == sent


def test_close_reasons_fit_a_close_frame() -> None:
    cut = relay._cut("é" * 100)
    assert len(cut.encode()) <= 123
    assert cut == "é" * 61


def test_without_the_denial_extension_a_refusal_is_a_close_code() -> None:
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "websocket.connect"}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "websocket", "path": "/", "headers": [], "extensions": {}}
    refusal = Unauthorized("the console ticket is unknown", code="console_ticket_invalid")
    asyncio.run(_deny(WebSocket(scope, receive, send), refusal))
    assert sent == [
        {"type": "websocket.accept", "subprotocol": None, "headers": []},
        {"type": "websocket.close", "code": 4401, "reason": "the console ticket is unknown"},
    ]
