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
from vrm.agents.repository import HeartbeatRepository
from vrm.models import Datastore, Event, Host, HostReconciliation, Vm
from vrm.models.base import utcnow
from vrm.models.enums import VmState


def enrolled(client: TestClient) -> dict[str, str]:
    """Enroll one agent and return its enrollment answer."""
    response = enroll(client, new_token(client)["token"])
    assert response.status_code == 201, response.text
    body: dict[str, str] = response.json()
    return body


def enrolled_pair(client: TestClient) -> tuple[dict[str, str], dict[str, str]]:
    """Two agents enrolled into one cluster."""
    cluster = client.post("/api/v1/clusters", json={"name": "pair"}).json()
    hosts = []
    for index in (1, 2):
        token = client.post("/api/v1/enrollment-tokens", json={"cluster_id": cluster["id"]})
        response = enroll(
            client, token.json()["token"], hostname=f"node-{index}", port=7070 + index
        )
        assert response.status_code == 201, response.text
        hosts.append(response.json())
    return hosts[0], hosts[1]


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
    # What reconciliation remembers is kept apart from the host's usage.
    session.expire_all()
    assert "suspects" not in session.get(Host, host_id).usage  # type: ignore[union-attr]
    assert session.get(HostReconciliation, host_id).strays == [str(stray)]  # type: ignore[union-attr]


def test_a_migrating_vm_is_never_corrected_and_not_a_stray_on_its_target(
    client: TestClient, session: Session
) -> None:
    source, target = enrolled_pair(client)
    source_id, target_id = uuid.UUID(source["host_id"]), uuid.UUID(target["host_id"])
    cluster_id = session.get(Host, source_id).cluster_id  # type: ignore[union-attr]
    moving = add_vm(session, cluster_id, name="moving")
    moving.host_id, moving.state = source_id, VmState.MIGRATING
    moving.migration_target_host_id = target_id
    session.commit()
    for _ in range(3):
        # Mid-migration: paused on the source, already running on the target.
        beat(client, source, (moving.uuid, DomainState.PAUSED))
        beat(client, target, (moving.uuid, DomainState.RUNNING))
    session.expire_all()
    assert session.get(Vm, moving.id).state == VmState.MIGRATING  # type: ignore[union-attr]
    assert events(session, "vm_state_corrected") == []
    assert events(session, "unknown_domain") == []
    assert events(session, "vm_on_unexpected_host") == []


def test_a_vm_seen_on_another_host_with_no_operation_is_reported_once(
    client: TestClient, session: Session
) -> None:
    home, other = enrolled_pair(client)
    home_id = uuid.UUID(home["host_id"])
    vm = add_vm(session, session.get(Host, home_id).cluster_id, name="elsewhere")  # type: ignore[union-attr]
    vm.host_id, vm.state = home_id, VmState.RUNNING
    session.commit()
    for _ in range(2):
        beat(client, home, (vm.uuid, DomainState.RUNNING))
        beat(client, other, (vm.uuid, DomainState.RUNNING))
    [event] = events(session, "vm_on_unexpected_host")
    assert event.target_id == vm.id
    assert events(session, "unknown_domain") == []


def test_a_correction_loses_to_a_concurrent_claim(client: TestClient, session: Session) -> None:
    host = enrolled(client)
    host_id = uuid.UUID(host["host_id"])
    vm = add_vm(session, session.get(Host, host_id).cluster_id, name="claimed")  # type: ignore[union-attr]
    vm.host_id, vm.state = host_id, VmState.STOPPED
    session.commit()
    beat(client, host, (vm.uuid, DomainState.RUNNING))  # suspect once
    # An operation claims the VM between the read and the write of the next flush.
    repo = HeartbeatRepository(session)
    vm.task_state = "start"
    session.commit()
    assert not repo.correct_vm(vm.id, recorded=VmState.STOPPED, actual=VmState.RUNNING)
    beat(client, host, (vm.uuid, DomainState.RUNNING))
    session.expire_all()
    assert session.get(Vm, vm.id).state == VmState.STOPPED  # type: ignore[union-attr]
    assert events(session, "vm_state_corrected") == []
