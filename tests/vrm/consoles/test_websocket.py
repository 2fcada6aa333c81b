"""The console websocket: a ticket is spent once, and refusals are HTTP answers.

Starlette's test client speaks the ASGI websocket denial extension, as uvicorn does
with ``websockets-sansio``: a refused handshake is an HTTP response in the one error
shape, not an accepted websocket closed at once.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session
from starlette.testclient import WebSocketDenialResponse

from tests.conftest import MakeUser
from tests.factories import add_host
from tests.helpers import login
from tests.vrm.consoles.conftest import running_vm
from tests.vrm.consoles.fake_agent import FakeAgent
from vrm.load.admission import Admission
from vrm.models import ConsoleTicket, Host, User, Vm
from vrm.models.base import utcnow
from vrm.models.enums import VmState


def ticket_for(client: TestClient, vm_id: uuid.UUID, **headers: str) -> str:
    response = client.post(f"/api/v1/vms/{vm_id}/console", headers=headers)
    assert response.status_code == 201, response.text
    return str(response.json()["ticket"])


def denial(client: TestClient, url: str, status: int) -> dict[str, Any]:
    """The error of a refused console handshake."""
    with pytest.raises(WebSocketDenialResponse) as refused, client.websocket_connect(url):
        pass
    response = refused.value
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["message"]
    error: dict[str, Any] = body["error"]
    return error


def ws_url(vm_id: uuid.UUID, ticket: str) -> str:
    return f"/api/v1/vms/{vm_id}/console/ws?ticket={ticket}"


def test_a_ticket_opens_the_console_once(client: TestClient, vm: Vm, agent: FakeAgent) -> None:
    ticket = ticket_for(client, vm.id)
    with client.websocket_connect(ws_url(vm.id, ticket)) as ws:
        assert ws.receive_bytes() == b"RFB 003.008\n"
        ws.close(1000)
        agent.last()  # the relay closed the node's side before the test client ends the app
    again = denial(client, ws_url(vm.id, ticket), 401)
    assert again["code"] == "console_ticket_invalid"
    assert len(agent.seen) == 1, "a refused ticket never reaches the node"


def test_unknown_and_missing_tickets_are_401(client: TestClient, vm: Vm) -> None:
    assert denial(client, ws_url(vm.id, "no-such-ticket"), 401)["code"] == "console_ticket_invalid"
    missing = denial(client, f"/api/v1/vms/{vm.id}/console/ws", 401)
    assert missing["code"] == "console_ticket_invalid"


def test_an_expired_ticket_is_401(client: TestClient, session: Session, vm: Vm) -> None:
    ticket = ticket_for(client, vm.id)
    row = session.query(ConsoleTicket).one()
    row.expires_at = utcnow() - timedelta(seconds=1)
    session.commit()
    assert denial(client, ws_url(vm.id, ticket), 401)["code"] == "console_ticket_invalid"
    session.refresh(row)
    assert row.used_at is None, "an expired ticket is not spent"


def test_a_ticket_for_another_vm_is_403_and_spent(
    client: TestClient, session: Session, vm: Vm, host: Host, agent: FakeAgent
) -> None:
    other = running_vm(session, host)
    ticket = ticket_for(client, vm.id)
    error = denial(client, ws_url(other.id, ticket), 403)
    assert error["code"] == "console_ticket_forbidden"
    assert "another VM" in error["message"]
    assert denial(client, ws_url(vm.id, ticket), 401)["code"] == "console_ticket_invalid"
    assert agent.seen == []


def test_a_ticket_of_a_user_disabled_since_is_403(
    client: TestClient, session: Session, make_user: MakeUser, vm: Vm
) -> None:
    make_user("watcher", "viewer")
    ticket = ticket_for(client, vm.id, **login(client, "watcher"))
    user = session.query(User).filter_by(name="watcher").one()
    user.enabled = False
    session.commit()
    assert denial(client, ws_url(vm.id, ticket), 403)["code"] == "console_ticket_forbidden"


def test_a_vm_stopped_since_the_ticket_is_409(client: TestClient, session: Session, vm: Vm) -> None:
    ticket = ticket_for(client, vm.id)
    vm.state = VmState.STOPPED
    session.commit()
    error = denial(client, ws_url(vm.id, ticket), 409)
    assert error["code"] == "vm_state_conflict"
    assert error["details"]["state"] == "stopped"


def test_the_console_follows_the_vm_to_its_current_host(
    client: TestClient, session: Session, vm: Vm, agent: FakeAgent
) -> None:
    ticket = ticket_for(client, vm.id)
    moved_to = FakeAgent()
    try:
        new_host = add_host(session, vm.cluster_id, name="node-b")
        new_host.agent_url = moved_to.url
        vm.host_id = new_host.id  # migrated after the ticket was issued
        session.commit()
        with client.websocket_connect(ws_url(vm.id, ticket)) as ws:
            assert ws.receive_bytes() == b"RFB 003.008\n"
            ws.close(1000)
            moved_to.last()
        assert len(moved_to.seen) == 1
        assert agent.seen == []
    finally:
        moved_to.stop()


def test_an_overloaded_vrm_answers_503_with_retry_after(
    client: TestClient, app: FastAPI, vm: Vm, agent: FakeAgent
) -> None:
    ticket = ticket_for(client, vm.id)
    app.state.admission = Admission(turns=0, queue=0, wait_s=0.01)  # no turn for anyone
    with (
        pytest.raises(WebSocketDenialResponse) as refused,
        client.websocket_connect(ws_url(vm.id, ticket)),
    ):
        pass
    assert refused.value.status_code == 503
    assert refused.value.headers["Retry-After"] == "1"
    assert refused.value.json()["error"]["code"] == "overloaded"
    assert agent.seen == []
