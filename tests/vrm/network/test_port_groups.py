"""The port group API, on both database backends."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.conftest import MakeUser
from tests.helpers import error_of, login
from tests.vrm.network.api import make_dvs, make_pool, make_port_group
from tests.vrm.network.factories import add_nic
from vrm.models import PortGroup


def test_create_get_update_delete(client: TestClient) -> None:
    dvs = make_dvs(client, "core")
    body = make_port_group(client, dvs["id"], "web", vlan_id=100, description="front")
    assert (body["dvs_id"], body["vlan_id"], body["description"]) == (dvs["id"], 100, "front")
    assert client.get(f"/api/v1/port-groups/{body['id']}").json() == body

    patched = client.patch(f"/api/v1/port-groups/{body['id']}", json={"vlan_id": 0})
    assert patched.status_code == 200, patched.text
    assert (patched.json()["vlan_id"], patched.json()["name"]) == (0, "web")

    assert client.delete(f"/api/v1/port-groups/{body['id']}").status_code == 204
    assert client.get(f"/api/v1/port-groups/{body['id']}").status_code == 404


@pytest.mark.parametrize("vlan_id", [0, 1, 4094])
def test_vlan_bounds_accepted(client: TestClient, vlan_id: int) -> None:
    assert make_port_group(client, name="pg", vlan_id=vlan_id)["vlan_id"] == vlan_id


def test_name_unique_per_dvs(client: TestClient) -> None:
    a, b = make_dvs(client, "a"), make_dvs(client, "b")
    make_port_group(client, a["id"], "web")
    response = client.post("/api/v1/port-groups", json={"dvs_id": a["id"], "name": "web"})
    assert error_of(response, 409)["code"] == "name_conflict"
    make_port_group(client, b["id"], "web")
    assert client.get("/api/v1/port-groups").json()["total"] == 2


def test_rename_onto_existing_name_conflicts(client: TestClient) -> None:
    dvs = make_dvs(client, "a")
    make_port_group(client, dvs["id"], "x")
    y = make_port_group(client, dvs["id"], "y")
    response = client.patch(f"/api/v1/port-groups/{y['id']}", json={"name": "x"})
    assert error_of(response, 409)["code"] == "name_conflict"
    assert client.get(f"/api/v1/port-groups/{y['id']}").json()["name"] == "y"


@pytest.mark.parametrize(
    "extra",
    [
        {"vlan_id": -1},
        {"vlan_id": 4095},
        {"vlan_id": "ten"},
        {"name": ""},
        {"name": None},
        {"dvs_id": "not-a-uuid"},
        {"unknown": True},
        {"description": "\x00"},
    ],
)
def test_invalid_input_is_422(client: TestClient, extra: dict[str, object]) -> None:
    dvs = make_dvs(client, "a")
    response = client.post("/api/v1/port-groups", json={"dvs_id": dvs["id"], "name": "p", **extra})
    assert error_of(response, 422)["code"] == "validation_error"
    assert client.get("/api/v1/port-groups").json()["total"] == 0


@pytest.mark.parametrize(
    "payload", [{"vlan_id": 5000}, {"vlan_id": None}, {"dvs_id": str(uuid.uuid4())}, {"name": ""}]
)
def test_invalid_update_is_422(client: TestClient, payload: dict[str, object]) -> None:
    pg = make_port_group(client, name="p", vlan_id=7)
    response = client.patch(f"/api/v1/port-groups/{pg['id']}", json=payload)
    assert error_of(response, 422)["code"] == "validation_error"
    assert client.get(f"/api/v1/port-groups/{pg['id']}").json() == pg


def test_unknown_dvs_is_422(client: TestClient) -> None:
    response = client.post("/api/v1/port-groups", json={"dvs_id": str(uuid.uuid4()), "name": "p"})
    error = error_of(response, 422)
    assert error["code"] == "dvs_not_found"
    assert error["details"]["field"] == "dvs_id"
    assert client.get("/api/v1/port-groups").json()["total"] == 0


def test_unknown_and_malformed_ids_are_404(client: TestClient) -> None:
    missing = f"/api/v1/port-groups/{uuid.uuid4()}"
    assert error_of(client.get(missing), 404)["code"] == "port_group_not_found"
    assert error_of(client.patch(missing, json={"vlan_id": 3}), 404)["code"].endswith("not_found")
    assert error_of(client.delete(missing), 404)["code"] == "port_group_not_found"
    assert error_of(client.get("/api/v1/port-groups/xyz"), 404)["code"] == "not_found"


def test_delete_used_by_nic_conflicts(client: TestClient, session: Session) -> None:
    pg = make_port_group(client, name="p")
    add_nic(session, uuid.UUID(pg["id"]))
    error = error_of(client.delete(f"/api/v1/port-groups/{pg['id']}"), 409)
    assert error["code"] == "port_group_in_use"
    assert "NIC" in error["message"]
    assert error["details"] == {"nics": 1, "ip_pools": 0}
    assert session.get(PortGroup, uuid.UUID(pg["id"])) is not None


def test_delete_used_by_pool_conflicts(client: TestClient) -> None:
    pg = make_port_group(client, name="p")
    pool = make_pool(client, pg["id"])
    error = error_of(client.delete(f"/api/v1/port-groups/{pg['id']}"), 409)
    assert error["code"] == "port_group_in_use"
    assert "IP pool" in error["message"]
    assert error["details"] == {"nics": 0, "ip_pools": 1}
    assert client.delete(f"/api/v1/ip-pools/{pool['id']}").status_code == 204
    assert client.delete(f"/api/v1/port-groups/{pg['id']}").status_code == 204


def test_list_paging_sorting_filtering(client: TestClient) -> None:
    a, b = make_dvs(client, "a"), make_dvs(client, "b")
    for dvs, name, vlan in ((a, "w", 10), (a, "x", 20), (b, "y", 10), (b, "w", 0)):
        make_port_group(client, dvs["id"], name, vlan_id=vlan)
    page = client.get("/api/v1/port-groups", params={"sort": "-vlan_id,name", "limit": 3}).json()
    assert page["total"] == 4
    assert [(p["name"], p["vlan_id"]) for p in page["items"]] == [("x", 20), ("w", 10), ("y", 10)]
    rest = client.get("/api/v1/port-groups", params={"sort": "-vlan_id,name", "offset": 3}).json()
    assert [(p["name"], p["vlan_id"]) for p in rest["items"]] == [("w", 0)]
    on_a = client.get("/api/v1/port-groups", params={"dvs_id": a["id"]}).json()
    assert sorted(p["name"] for p in on_a["items"]) == ["w", "x"]
    vlan10 = client.get("/api/v1/port-groups", params={"vlan_id": 10, "name": "y"}).json()
    assert [p["dvs_id"] for p in vlan10["items"]] == [b["id"]]
    named = client.get("/api/v1/port-groups", params={"name": "w"}).json()
    assert named["total"] == 2


@pytest.mark.parametrize(
    "params",
    [{"sort": "dvs_id"}, {"limit": 1001}, {"vlan_id": 5000}, {"dvs_id": "x"}, {"name": "\x00"}],
)
def test_bad_list_params_are_422(client: TestClient, params: dict[str, Any]) -> None:
    error_of(client.get("/api/v1/port-groups", params=params), 422)


def test_viewer_cannot_write(
    anon_client: TestClient, make_user: MakeUser, client: TestClient
) -> None:
    pg = make_port_group(client, name="p")
    make_user("watcher", "viewer")
    headers = login(anon_client, "watcher")
    assert anon_client.get("/api/v1/port-groups", headers=headers).status_code == 200
    attempts = [
        anon_client.post(
            "/api/v1/port-groups", json={"dvs_id": pg["dvs_id"], "name": "q"}, headers=headers
        ),
        anon_client.patch(f"/api/v1/port-groups/{pg['id']}", json={"vlan_id": 5}, headers=headers),
        anon_client.delete(f"/api/v1/port-groups/{pg['id']}", headers=headers),
    ]
    for response in attempts:
        assert error_of(response, 403)["code"] == "forbidden"
    assert client.get(f"/api/v1/port-groups/{pg['id']}").json() == pg
