"""The events and alarms API, on both database backends."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.conftest import MakeUser
from tests.factories import add_alarm, add_event
from tests.helpers import error_of, login
from vrm.models import AuditRecord
from vrm.models.base import utcnow
from vrm.models.enums import AlarmState, Severity


def test_events_newest_first_and_filters(client: TestClient, session: Session) -> None:
    now, host_id = utcnow(), uuid.uuid4()
    add_event(session, type="host.up", target_id=host_id, created_at=now - timedelta(minutes=3))
    add_event(
        session,
        type="host.fault",
        severity=Severity.CRITICAL,
        target_id=host_id,
        created_at=now - timedelta(minutes=1),
    )
    add_event(
        session,
        type="vm.created",
        target_type="vm",
        created_at=now - timedelta(minutes=2),
    )

    def types(**params: object) -> list[str]:
        page = client.get("/api/v1/events", params=params).json()
        assert page["total"] == len(page["items"])
        return [e["type"] for e in page["items"]]

    assert types() == ["host.fault", "vm.created", "host.up"]
    assert types(sort="created_at") == ["host.up", "vm.created", "host.fault"]
    assert types(severity="critical") == ["host.fault"]
    assert types(type="vm.created") == ["vm.created"]
    assert types(target_type="host") == ["host.fault", "host.up"]
    assert types(target_id=str(host_id), severity="info") == ["host.up"]
    page = client.get("/api/v1/events", params={"limit": 1, "offset": 2}).json()
    assert page["total"] == 3
    assert [e["type"] for e in page["items"]] == ["host.up"]


def test_get_event(client: TestClient, session: Session) -> None:
    event = add_event(session, type="host.up")
    body = client.get(f"/api/v1/events/{event.id}").json()
    assert body["message"] == "host.up happened"
    assert body["severity"] == "info"
    assert error_of(client.get(f"/api/v1/events/{uuid.uuid4()}"), 404)["code"] == (
        "event_not_found"
    )


def test_alarms_list_filters_and_sorting(client: TestClient, session: Session) -> None:
    now = utcnow()
    add_alarm(session, code="old", raised_at=now - timedelta(hours=2))
    add_alarm(session, code="cleared", state=AlarmState.CLEARED, raised_at=now)
    add_alarm(
        session, code="critical", severity=Severity.CRITICAL, raised_at=now - timedelta(hours=1)
    )

    def codes(**params: object) -> list[str]:
        page = client.get("/api/v1/alarms", params=params).json()
        assert page["total"] == len(page["items"])
        return [a["code"] for a in page["items"]]

    assert codes() == ["cleared", "critical", "old"]
    assert codes(state="active") == ["critical", "old"]
    assert codes(severity="critical") == ["critical"]
    assert codes(state="active", severity="major") == ["old"]
    assert codes(sort="code") == ["cleared", "critical", "old"]


def test_acknowledge_alarm(client: TestClient, session: Session) -> None:
    alarm = add_alarm(session)
    response = client.post(f"/api/v1/alarms/{alarm.id}/acknowledge")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["state"] == "acknowledged"
    root = client.get("/api/v1/users/me").json()
    assert body["acknowledged_by"] == root["id"]
    assert client.get(f"/api/v1/alarms/{alarm.id}").json() == body

    again = client.post(f"/api/v1/alarms/{alarm.id}/acknowledge")
    assert again.status_code == 200
    assert again.json()["state"] == "acknowledged"
    audits = session.scalars(
        select(AuditRecord).where(AuditRecord.action == "alarm.acknowledge")
    ).all()
    assert [(a.target_id, a.username) for a in audits] == [(alarm.id, "root")]


def test_acknowledging_a_cleared_alarm_conflicts(client: TestClient, session: Session) -> None:
    alarm = add_alarm(session, state=AlarmState.CLEARED)
    response = client.post(f"/api/v1/alarms/{alarm.id}/acknowledge")
    error = error_of(response, 409)
    assert error["code"] == "alarm_not_active"
    assert error["details"] == {"state": "cleared"}
    body = client.get(f"/api/v1/alarms/{alarm.id}").json()
    assert (body["state"], body["acknowledged_by"]) == ("cleared", None)


def test_unknown_and_malformed_alarm_ids_are_404(client: TestClient) -> None:
    for path in (
        f"/api/v1/alarms/{uuid.uuid4()}",
        f"/api/v1/alarms/{uuid.uuid4()}/acknowledge",
        "/api/v1/alarms/x/acknowledge",
    ):
        method = client.post if path.endswith("acknowledge") else client.get
        assert error_of(method(path), 404)["code"].endswith("not_found"), path


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/api/v1/events", {"severity": "loud"}),
        ("/api/v1/events", {"target_id": "nope"}),
        ("/api/v1/events", {"sort": "message"}),
        ("/api/v1/events", {"type": "\x00"}),
        ("/api/v1/alarms", {"state": "open"}),
        ("/api/v1/alarms", {"severity": "minorish"}),
        ("/api/v1/alarms", {"sort": "message"}),
    ],
)
def test_bad_list_params_are_422(client: TestClient, path: str, params: dict[str, object]) -> None:
    error_of(client.get(path, params=params), 422)


def test_viewer_cannot_acknowledge(
    anon_client: TestClient, make_user: MakeUser, session: Session
) -> None:
    alarm = add_alarm(session)
    make_user("watcher", "viewer")
    headers = login(anon_client, "watcher")
    assert anon_client.get("/api/v1/alarms", headers=headers).json()["total"] == 1
    assert anon_client.get("/api/v1/events", headers=headers).status_code == 200
    response = anon_client.post(f"/api/v1/alarms/{alarm.id}/acknowledge", headers=headers)
    assert error_of(response, 403)["code"] == "forbidden"
    make_user("oper", "operator")
    response = anon_client.post(
        f"/api/v1/alarms/{alarm.id}/acknowledge", headers=login(anon_client, "oper")
    )
    assert response.json()["state"] == "acknowledged"
