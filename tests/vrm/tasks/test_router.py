"""The tasks API (read only), on both database backends."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.conftest import MakeUser
from tests.factories import add_task
from tests.helpers import error_of, login
from vrm.models.base import utcnow
from vrm.models.enums import TaskState


def test_get_shows_progress_and_outcome(client: TestClient, session: Session) -> None:
    task = add_task(session, type="vm.migrate", state=TaskState.FAILED)
    task.progress, task.step = 40, "copy_memory"
    task.error_code, task.error_message = "host_unreachable", "host node2 did not answer"
    session.commit()
    body = client.get(f"/api/v1/tasks/{task.id}").json()
    assert body["type"] == "vm.migrate"
    assert body["state"] == "failed"
    assert (body["progress"], body["step"]) == (40, "copy_memory")
    assert body["error_code"] == "host_unreachable"
    assert (body["params"], body["result"]) == ({}, {})
    assert "claimed_by" not in body


def test_list_is_newest_first_by_default(client: TestClient, session: Session) -> None:
    now = utcnow()
    for minutes, kind in ((3, "old"), (1, "new"), (2, "middle")):
        add_task(session, type=kind, created_at=now - timedelta(minutes=minutes))
    page = client.get("/api/v1/tasks").json()
    assert page["total"] == 3
    assert [t["type"] for t in page["items"]] == ["new", "middle", "old"]
    oldest = client.get("/api/v1/tasks", params={"sort": "created_at", "limit": 1}).json()
    assert [t["type"] for t in oldest["items"]] == ["old"]
    assert oldest["total"] == 3
    second = client.get("/api/v1/tasks", params={"limit": 1, "offset": 1}).json()
    assert [t["type"] for t in second["items"]] == ["middle"]


def test_list_filters(client: TestClient, session: Session) -> None:
    vm_id = uuid.uuid4()
    add_task(session, type="vm.start", state=TaskState.RUNNING, target_id=vm_id)
    add_task(session, type="vm.stop", state=TaskState.SUCCEEDED, target_id=vm_id)
    add_task(session, type="host.maintain", target_type="host", target_id=uuid.uuid4())

    def types(**params: object) -> list[str]:
        page = client.get("/api/v1/tasks", params={"sort": "type", **params}).json()
        assert page["total"] == len(page["items"])
        return [t["type"] for t in page["items"]]

    assert types(state="running") == ["vm.start"]
    assert types(type="vm.stop") == ["vm.stop"]
    assert types(target_type="vm") == ["vm.start", "vm.stop"]
    assert types(target_id=str(vm_id)) == ["vm.start", "vm.stop"]
    assert types(target_type="host", state="queued") == ["host.maintain"]
    assert types(state="cancelled") == []


@pytest.mark.parametrize(
    "params",
    [
        {"state": "done"},
        {"target_id": "vm-1"},
        {"sort": "params"},
        {"type": "a\x00"},
        {"limit": 1001},
    ],
)
def test_bad_list_params_are_422(client: TestClient, params: dict[str, object]) -> None:
    error_of(client.get("/api/v1/tasks", params=params), 422)


def test_unknown_and_malformed_ids_are_404(client: TestClient) -> None:
    assert error_of(client.get(f"/api/v1/tasks/{uuid.uuid4()}"), 404)["code"] == "task_not_found"
    assert error_of(client.get("/api/v1/tasks/42"), 404)["code"] == "not_found"


def test_tasks_cannot_be_created_through_the_api(client: TestClient) -> None:
    assert error_of(client.post("/api/v1/tasks", json={"type": "x"}), 405)


def test_viewer_can_read(anon_client: TestClient, make_user: MakeUser) -> None:
    make_user("watcher", "viewer")
    headers = login(anon_client, "watcher")
    assert anon_client.get("/api/v1/tasks", headers=headers).status_code == 200
