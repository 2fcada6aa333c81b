"""Heartbeats, host liveness and reconciliation, on both backends."""

from __future__ import annotations

import uuid
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from cna_agent.protocol import DomainState
from tests.factories import add_vm
from tests.helpers import error_of
from tests.vrm.agents.test_enrollment import enroll, new_token
from tests.vrm.agents.wire import heartbeat
from vrm.agents.liveness import mark_silent_hosts
from vrm.models import Datastore, Event, Host, Vm
from vrm.models.base import utcnow
from vrm.models.enums import VmState


def enrolled(client: TestClient) -> dict[str, str]:
    """Enroll one agent and return its enrollment answer."""
    response = enroll(client, new_token(client)["token"])
    assert response.status_code == 201, response.text
    body: dict[str, str] = response.json()
    return body


def beat(
    client: TestClient,
    host: dict[str, str],
    *domains: tuple[uuid.UUID, DomainState],
    credential: str | None = None,
    capacity_mib: int = 100_000,
) -> dict[str, str]:
    response = client.post(
        f"/api/v1/agents/{host['host_id']}/heartbeat",
        json=heartbeat(*domains, capacity_mib=capacity_mib).model_dump(mode="json"),
        headers={"Authorization": f"Bearer {credential or host['host_credential']}"},
    )
    assert response.status_code == 200, response.text
    written(client)
    body: dict[str, str] = response.json()
    return body


def written(client: TestClient) -> None:
    """Write the heartbeats VRM took in memory, as its write-behind thread does."""
    client.app.state.heartbeats.flush()  # type: ignore[attr-defined]


def events(session: Session, kind: str) -> list[Event]:
    return list(session.query(Event).filter(Event.type == kind))


def test_first_heartbeat_makes_host_normal(client: TestClient, session: Session) -> None:
    host = enrolled(client)
    assert beat(client, host)["host_state"] == "normal"
    row = session.get(Host, uuid.UUID(host["host_id"]))
    assert row is not None
    assert row.state == "normal"
    assert row.last_heartbeat_at is not None
    assert row.usage["cpu_percent"] == 12.5
    assert len(events(session, "host_connected")) == 1
    listed = client.get("/api/v1/hosts", params={"state": "normal"}).json()
    assert [h["id"] for h in listed["items"]] == [host["host_id"]]


def test_heartbeat_needs_the_hosts_own_credential(client: TestClient) -> None:
    host = enrolled(client)
    url = f"/api/v1/agents/{host['host_id']}/heartbeat"
    body = heartbeat().model_dump(mode="json")
    for headers in (
        {},
        {"Authorization": "Bearer cnah_wrong"},
        {"Authorization": f"Bearer {host['vrm_credential']}"},
    ):
        assert error_of(client.post(url, json=body, headers=headers), 401)
    other = f"/api/v1/agents/{uuid.uuid4()}/heartbeat"
    auth = {"Authorization": f"Bearer {host['host_credential']}"}
    assert client.post(other, json=body, headers=auth).status_code == 401


def test_heartbeat_updates_datastore_capacity(client: TestClient, session: Session) -> None:
    host = enrolled(client)
    beat(client, host, capacity_mib=123_456)
    store = session.get(Datastore, uuid.UUID(host["datastores"]["default"]))  # type: ignore[index]
    assert store is not None
    assert store.capacity_mib == 123_456


def test_silent_host_goes_fault_and_back(client: TestClient, session: Session) -> None:
    host = enrolled(client)
    beat(client, host)
    row = session.get(Host, uuid.UUID(host["host_id"]))
    assert row is not None
    assert mark_silent_hosts(session, now=utcnow(), fault_after_s=30) == 0
    later = utcnow() + timedelta(seconds=31)
    assert mark_silent_hosts(session, now=later, fault_after_s=30) == 1
    assert mark_silent_hosts(session, now=later, fault_after_s=30) == 0
    session.commit()
    session.refresh(row)
    assert row.state == "fault"
    assert len(events(session, "host_fault")) == 1
    assert beat(client, host)["host_state"] == "normal"
    assert len(events(session, "host_recovered")) == 1


def test_host_that_never_reports_goes_fault(client: TestClient, session: Session) -> None:
    host = enrolled(client)
    later = utcnow() + timedelta(seconds=60)
    assert mark_silent_hosts(session, now=later, fault_after_s=30) == 1
    row = session.get(Host, uuid.UUID(host["host_id"]))
    assert row is not None
    session.refresh(row)
    assert row.state == "fault"


def test_reconcile_corrects_states_and_reports_strays(client: TestClient, session: Session) -> None:
    host = enrolled(client)
    host_id = uuid.UUID(host["host_id"])
    row = session.get(Host, host_id)
    assert row is not None
    running = add_vm(session, row.cluster_id, name="was-stopped")
    busy = add_vm(session, row.cluster_id, name="busy")
    gone = add_vm(session, row.cluster_id, name="gone")
    for vm, state in ((running, VmState.STOPPED), (busy, VmState.STOPPED), (gone, VmState.RUNNING)):
        vm.host_id, vm.state = host_id, state
    busy.task_state = "starting"
    session.commit()
    stray = uuid.uuid4()
    reported = [
        (running.uuid, DomainState.RUNNING),
        (busy.uuid, DomainState.RUNNING),
        (stray, DomainState.RUNNING),
    ]
    beat(client, host, *reported)
    session.expire_all()
    assert session.get(Vm, running.id).state == VmState.STOPPED, "one report is not enough"  # type: ignore[union-attr]
    beat(client, host, *reported)
    session.expire_all()
    assert session.get(Vm, running.id).state == VmState.RUNNING  # type: ignore[union-attr]
    assert session.get(Vm, busy.id).state == VmState.STOPPED  # type: ignore[union-attr]
    assert session.get(Vm, gone.id).state == VmState.UNKNOWN  # type: ignore[union-attr]
    assert len(events(session, "vm_state_corrected")) == 2
    assert len(events(session, "unknown_domain")) == 1
    beat(client, host, *reported)
    assert len(events(session, "unknown_domain")) == 1, "a stray is reported once"
    assert len(events(session, "vm_state_corrected")) == 2
