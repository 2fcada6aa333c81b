"""The clusters API, on both database backends."""

from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.conftest import MakeUser
from tests.factories import add_host, add_vm
from tests.helpers import error_of, login
from vrm.models import Cluster
from vrm.sites.repository import DEFAULT_SITE_ID


def test_create_get_update_delete(client: TestClient) -> None:
    created = client.post("/api/v1/clusters", json={"name": "prod", "cpu_overcommit": 4})
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["site_id"] == str(DEFAULT_SITE_ID)
    assert body["cpu_overcommit"] == 4
    assert body["drs_mode"] == "off"

    got = client.get(f"/api/v1/clusters/{body['id']}")
    assert got.json() == body

    patched = client.patch(
        f"/api/v1/clusters/{body['id']}", json={"drs_mode": "automatic", "ha_enabled": True}
    )
    assert patched.status_code == 200
    assert patched.json()["drs_mode"] == "automatic"
    assert patched.json()["name"] == "prod"

    assert client.delete(f"/api/v1/clusters/{body['id']}").status_code == 204
    assert client.get(f"/api/v1/clusters/{body['id']}").status_code == 404


def test_duplicate_name_conflicts(client: TestClient) -> None:
    assert client.post("/api/v1/clusters", json={"name": "a"}).status_code == 201
    response = client.post("/api/v1/clusters", json={"name": "a"})
    assert response.status_code == 409
    assert error_of(response)["code"] == "name_conflict"


def test_rename_onto_existing_name_conflicts(client: TestClient) -> None:
    client.post("/api/v1/clusters", json={"name": "a"})
    b = client.post("/api/v1/clusters", json={"name": "b"}).json()
    response = client.patch(f"/api/v1/clusters/{b['id']}", json={"name": "a"})
    assert response.status_code == 409
    assert client.get(f"/api/v1/clusters/{b['id']}").json()["name"] == "b"


@pytest.mark.parametrize(
    "payload",
    [
        {"name": ""},
        {"name": "   "},
        {"name": "x" * 65},
        {"name": "tab\there"},
        {"name": "ok", "cpu_overcommit": 0.5},
        {"name": "ok", "mem_overcommit": 10},
        {"name": "ok", "drs_mode": "sometimes"},
        {"name": "ok", "drs_threshold": 9},
        {"name": "ok", "unknown_field": 1},
        {},
    ],
)
def test_invalid_input_is_422(client: TestClient, payload: dict[str, object]) -> None:
    response = client.post("/api/v1/clusters", json=payload)
    assert response.status_code == 422
    assert error_of(response)["code"] == "validation_error"
    assert client.get("/api/v1/clusters").json()["total"] == 0


def test_null_for_required_field_is_422(client: TestClient) -> None:
    c = client.post("/api/v1/clusters", json={"name": "n"}).json()
    response = client.patch(f"/api/v1/clusters/{c['id']}", json={"name": None})
    assert response.status_code == 422


def test_unknown_site_is_422(client: TestClient) -> None:
    response = client.post("/api/v1/clusters", json={"name": "x", "site_id": str(uuid.uuid4())})
    assert response.status_code == 422
    assert error_of(response)["code"] == "site_not_found"


def test_unknown_and_malformed_ids_are_404(client: TestClient) -> None:
    for path in (f"/api/v1/clusters/{uuid.uuid4()}", "/api/v1/clusters/not-a-uuid"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert error_of(response)["code"].endswith("not_found")
    assert client.delete(f"/api/v1/clusters/{uuid.uuid4()}").status_code == 404


def test_delete_with_hosts_or_vms_conflicts(client: TestClient, session: Session) -> None:
    with_host = client.post("/api/v1/clusters", json={"name": "h"}).json()
    with_vm = client.post("/api/v1/clusters", json={"name": "v"}).json()
    add_host(session, uuid.UUID(with_host["id"]))
    add_vm(session, uuid.UUID(with_vm["id"]))
    for cluster in (with_host, with_vm):
        response = client.delete(f"/api/v1/clusters/{cluster['id']}")
        assert response.status_code == 409
        assert error_of(response)["code"] == "cluster_not_empty"
    assert session.get(Cluster, uuid.UUID(with_host["id"])) is not None


def test_list_paging_sorting_filtering(client: TestClient) -> None:
    for name in ("c", "a", "d", "b"):
        client.post("/api/v1/clusters", json={"name": name, "ha_enabled": name in "ab"})
    page = client.get("/api/v1/clusters", params={"sort": "name", "limit": 2, "offset": 1}).json()
    assert page["total"] == 4
    assert [c["name"] for c in page["items"]] == ["b", "c"]
    desc = client.get("/api/v1/clusters", params={"sort": "-name"}).json()
    assert [c["name"] for c in desc["items"]] == ["d", "c", "b", "a"]
    ha = client.get("/api/v1/clusters", params={"ha_enabled": "true", "sort": "name"}).json()
    assert [c["name"] for c in ha["items"]] == ["a", "b"]
    assert ha["total"] == 2
    named = client.get("/api/v1/clusters", params={"name": "d"}).json()
    assert named["total"] == 1


@pytest.mark.parametrize(
    "params",
    [{"sort": "password"}, {"sort": "name;drop"}, {"limit": 0}, {"limit": 5000}, {"offset": -1}],
)
def test_bad_list_params_are_422(client: TestClient, params: dict[str, object]) -> None:
    response = client.get("/api/v1/clusters", params=params)
    assert response.status_code == 422
    error_of(response)


def test_viewer_cannot_write(anon_client: TestClient, make_user: MakeUser) -> None:
    make_user("watcher", "viewer")
    headers = login(anon_client, "watcher")
    assert anon_client.get("/api/v1/clusters", headers=headers).status_code == 200
    response = anon_client.post("/api/v1/clusters", json={"name": "x"}, headers=headers)
    assert response.status_code == 403
    assert error_of(response)["code"] == "forbidden"
