"""Console tickets: who gets one for which VM, and what is kept of it."""

from __future__ import annotations

import hashlib
import uuid
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.conftest import MakeUser
from tests.helpers import error_of, login
from tests.vrm.consoles.conftest import running_vm
from vrm.consoles.service import TICKET_TTL_S
from vrm.models import AuditRecord, ConsoleTicket, Host, Vm
from vrm.models.base import utcnow
from vrm.models.enums import VmState


def ask(client: TestClient, vm_id: uuid.UUID, **body: str) -> dict[str, object]:
    response = client.post(f"/api/v1/vms/{vm_id}/console", json=body or None)
    assert response.status_code == 201, response.text
    issued: dict[str, object] = response.json()
    return issued


def test_a_running_vm_gets_a_one_time_vnc_ticket(
    client: TestClient, session: Session, vm: Vm
) -> None:
    before = utcnow()
    issued = ask(client, vm.id)
    ticket = str(issued["ticket"])
    assert issued["type"] == "vnc", "VNC unless asked otherwise"
    assert issued["url"] == f"/api/v1/vms/{vm.id}/console/ws?ticket={ticket}"
    assert len(ticket) >= 43, "32 random bytes, URL-safe"
    row = session.query(ConsoleTicket).one()
    assert row.token_hash == hashlib.sha256(ticket.encode()).hexdigest(), "only the hash is kept"
    assert ticket not in {str(v) for v in vars(row).values()}
    assert row.vm_id == vm.id
    assert row.used_at is None
    lifetime = row.expires_at - before
    assert timedelta(seconds=TICKET_TTL_S - 2) < lifetime <= timedelta(seconds=TICKET_TTL_S + 2)
    audit = session.query(AuditRecord).filter_by(action="vm.console").one()
    assert audit.target_id == vm.id
    assert audit.details["type"] == "vnc"
    assert audit.username == "root"


def test_a_serial_ticket_and_each_ticket_is_new(client: TestClient, vm: Vm) -> None:
    first, second = ask(client, vm.id, type="serial"), ask(client, vm.id, type="serial")
    assert first["type"] == "serial"
    assert first["ticket"] != second["ticket"]


def test_a_paused_vm_has_a_console(client: TestClient, session: Session, host: Host) -> None:
    paused = running_vm(session, host, state=VmState.PAUSED)
    assert ask(client, paused.id)["type"] == "vnc"


def test_a_viewer_may_watch_what_it_may_read(
    client: TestClient, make_user: MakeUser, vm: Vm
) -> None:
    make_user("watcher", "viewer")
    response = client.post(
        f"/api/v1/vms/{vm.id}/console", headers=login(client, "watcher"), json={}
    )
    assert response.status_code == 201, response.text


@pytest.mark.parametrize(
    "state", [VmState.STOPPED, VmState.CREATING, VmState.STARTING, VmState.MIGRATING]
)
def test_a_vm_without_a_running_domain_has_no_console(
    client: TestClient, session: Session, host: Host, state: VmState
) -> None:
    other = running_vm(session, host, state=state)
    error = error_of(client.post(f"/api/v1/vms/{other.id}/console"), 409)
    assert error["code"] == "vm_state_conflict"
    assert error["details"] == {"state": state.value, "allowed": ["paused", "running"]}
    assert session.query(ConsoleTicket).count() == 0


def test_a_running_vm_without_a_host_has_no_console(
    client: TestClient, session: Session, vm: Vm
) -> None:
    vm.host_id = None
    session.commit()
    assert error_of(client.post(f"/api/v1/vms/{vm.id}/console"), 409)["code"] == "vm_state_conflict"


def test_templates_have_no_console(client: TestClient, session: Session, vm: Vm) -> None:
    vm.is_template = True
    session.commit()
    assert error_of(client.post(f"/api/v1/vms/{vm.id}/console"), 409)["code"] == "vm_is_template"


def test_unknown_vm_type_and_caller(client: TestClient, anon_client: TestClient, vm: Vm) -> None:
    missing = client.post(f"/api/v1/vms/{uuid.uuid4()}/console")
    assert error_of(missing, 404)["code"] == "vm_not_found"
    bad_type = client.post(f"/api/v1/vms/{vm.id}/console", json={"type": "rdp"})
    assert error_of(bad_type, 422)["code"] == "validation_error"
    extra = client.post(f"/api/v1/vms/{vm.id}/console", json={"type": "vnc", "x": 1})
    error_of(extra, 422)
    nobody = anon_client.post(f"/api/v1/vms/{vm.id}/console")
    assert error_of(nobody, 401)["code"] == "not_authenticated"


def test_old_tickets_are_purged_when_new_ones_are_issued(
    client: TestClient, session: Session, vm: Vm
) -> None:
    ask(client, vm.id)
    old = session.query(ConsoleTicket).one()
    old.expires_at = utcnow() - timedelta(hours=1)
    session.commit()
    ask(client, vm.id)
    assert [row.id for row in session.query(ConsoleTicket)] != [old.id]
    assert session.query(ConsoleTicket).count() == 1
