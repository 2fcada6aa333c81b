"""The hosts API (read only: hosts join by enrollment), on both database backends."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.conftest import MakeUser
from tests.factories import add_host
from tests.helpers import error_of, login
from vrm.models.base import utcnow
from vrm.models.enums import HostState


def _cluster(client: TestClient, name: str) -> uuid.UUID:
    response = client.post("/api/v1/clusters", json={"name": name})
    assert response.status_code == 201, response.text
    return uuid.UUID(response.json()["id"])


def test_get_shows_facts_but_never_the_credential(client: TestClient, session: Session) -> None:
    host = add_host(session, _cluster(client, "c"), name="node1")
    host.credential_hash = "secret-credential-hash"
    host.usage = {"cpu_percent": 12.5, "memory_used_mib": 2048}
    host.capabilities = {"live_migration": True}
    host.last_heartbeat_at = utcnow()
    session.commit()

    response = client.get(f"/api/v1/hosts/{host.id}")
    assert response.status_code == 200, response.text
    body = response.json()
    assert "credential" not in response.text
    assert "secret-credential-hash" not in response.text
    assert body["name"] == "node1"
    assert body["state"] == "normal"
    assert (body["cpu_cores"], body["cpu_threads"], body["memory_mib"]) == (4, 8, 16384)
    assert body["usage"] == {"cpu_percent": 12.5, "memory_used_mib": 2048}
    assert body["capabilities"] == {"live_migration": True}
    assert body["last_heartbeat_at"] is not None

    listed = client.get("/api/v1/hosts")
    assert "secret-credential-hash" not in listed.text
    assert listed.json()["items"] == [body]


def test_list_filters_paging_and_sorting(client: TestClient, session: Session) -> None:
    c1, c2 = _cluster(client, "c1"), _cluster(client, "c2")
    for name in ("b", "a", "d"):
        add_host(session, c1, name=name)
    faulty = add_host(session, c2, name="c")
    faulty.state = HostState.FAULT
    faulty.memory_mib = 1024
    faulty.last_heartbeat_at = utcnow() - timedelta(minutes=5)
    session.commit()

    def names(**params: object) -> list[str]:
        page = client.get("/api/v1/hosts", params={"sort": "name", **params}).json()
        assert page["total"] == len(page["items"])
        return [h["name"] for h in page["items"]]

    assert names() == ["a", "b", "c", "d"]
    assert names(cluster_id=str(c1)) == ["a", "b", "d"]
    assert names(state="fault") == ["c"]
    assert names(name="d") == ["d"]
    assert names(cluster_id=str(uuid.uuid4())) == []
    page = client.get("/api/v1/hosts", params={"sort": "-name", "limit": 2, "offset": 1}).json()
    assert page["total"] == 4
    assert [h["name"] for h in page["items"]] == ["c", "b"]
    by_memory = client.get("/api/v1/hosts", params={"sort": "memory_mib,name"}).json()
    assert by_memory["items"][0]["name"] == "c"


@pytest.mark.parametrize(
    "params",
    [
        {"state": "broken"},
        {"cluster_id": "nope"},
        {"sort": "credential_hash"},
        {"name": "a\x00"},
        {"offset": -1},
    ],
)
def test_bad_list_params_are_422(client: TestClient, params: dict[str, object]) -> None:
    assert error_of(client.get("/api/v1/hosts", params=params), 422)["code"] in {
        "validation_error",
        "invalid_sort",
    }


def test_unknown_and_malformed_ids_are_404(client: TestClient) -> None:
    assert error_of(client.get(f"/api/v1/hosts/{uuid.uuid4()}"), 404)["code"] == "host_not_found"
    assert error_of(client.get("/api/v1/hosts/node1"), 404)["code"] == "not_found"


def test_hosts_cannot_be_created_through_the_api(client: TestClient) -> None:
    assert error_of(client.post("/api/v1/hosts", json={"name": "x"}), 405)


def test_viewer_can_read(anon_client: TestClient, make_user: MakeUser) -> None:
    make_user("watcher", "viewer")
    headers = login(anon_client, "watcher")
    assert anon_client.get("/api/v1/hosts", headers=headers).json() == {"items": [], "total": 0}
