"""The DVS API, on both database backends."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import MakeUser
from tests.helpers import error_of, login
from tests.vrm.network.api import make_dvs, make_port_group
from vrm.sites.repository import DEFAULT_SITE_ID


def test_create_get_update_delete(client: TestClient) -> None:
    body = make_dvs(client, "core", uplink="eth1", mtu=9000, description="storage net")
    assert body["site_id"] == str(DEFAULT_SITE_ID)
    assert re.fullmatch(r"ovs-[0-9a-f]{8}", body["bridge"])
    assert (body["uplink"], body["mtu"], body["description"]) == ("eth1", 9000, "storage net")

    assert client.get(f"/api/v1/dvs/{body['id']}").json() == body

    patched = client.patch(f"/api/v1/dvs/{body['id']}", json={"name": "core2", "uplink": None})
    assert patched.status_code == 200, patched.text
    assert (patched.json()["name"], patched.json()["uplink"]) == ("core2", None)
    assert patched.json()["bridge"] == body["bridge"]

    assert client.delete(f"/api/v1/dvs/{body['id']}").status_code == 204
    assert client.get(f"/api/v1/dvs/{body['id']}").status_code == 404


def test_defaults_and_given_bridge(client: TestClient) -> None:
    body = make_dvs(client, "plain", bridge="br-int.10")
    assert (body["bridge"], body["uplink"], body["mtu"]) == ("br-int.10", None, 1500)


def test_generated_bridges_differ(client: TestClient) -> None:
    bridges = {make_dvs(client, f"d{i}")["bridge"] for i in range(5)}
    assert len(bridges) == 5


def test_duplicate_name_conflicts_within_a_site(client: TestClient) -> None:
    make_dvs(client, "a")
    response = client.post("/api/v1/dvs", json={"name": "a"})
    assert error_of(response, 409)["code"] == "name_conflict"
    assert client.get("/api/v1/dvs").json()["total"] == 1


def test_duplicate_bridge_conflicts(client: TestClient) -> None:
    make_dvs(client, "a", bridge="br0")
    response = client.post("/api/v1/dvs", json={"name": "b", "bridge": "br0"})
    assert error_of(response, 409)["code"] == "bridge_conflict"


def test_uplink_serves_one_dvs_per_site(client: TestClient) -> None:
    make_dvs(client, "a", uplink="eth1")
    response = client.post("/api/v1/dvs", json={"name": "b", "uplink": "eth1"})
    assert error_of(response, 409)["code"] == "uplink_in_use"
    b = make_dvs(client, "b", uplink="eth2")
    response = client.patch(f"/api/v1/dvs/{b['id']}", json={"uplink": "eth1"})
    assert error_of(response, 409)["code"] == "uplink_in_use"
    assert client.patch(f"/api/v1/dvs/{b['id']}", json={"uplink": "eth2"}).status_code == 200


def test_uplink_cannot_be_the_bridge(client: TestClient) -> None:
    response = client.post("/api/v1/dvs", json={"name": "a", "bridge": "br0", "uplink": "br0"})
    assert error_of(response, 422)["code"] == "invalid_uplink"
    dvs = make_dvs(client, "a", bridge="br0")
    response = client.patch(f"/api/v1/dvs/{dvs['id']}", json={"uplink": "br0"})
    assert error_of(response, 422)["code"] == "invalid_uplink"


def test_rename_onto_existing_name_conflicts(client: TestClient) -> None:
    make_dvs(client, "a")
    b = make_dvs(client, "b")
    response = client.patch(f"/api/v1/dvs/{b['id']}", json={"name": "a"})
    assert error_of(response, 409)["code"] == "name_conflict"
    assert client.get(f"/api/v1/dvs/{b['id']}").json()["name"] == "b"


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"name": ""},
        {"name": "x" * 65},
        {"name": "ok", "mtu": 575},
        {"name": "ok", "mtu": 9217},
        {"name": "ok", "mtu": "big"},
        {"name": "ok", "bridge": ""},
        {"name": "ok", "bridge": "a" * 16},
        {"name": "ok", "bridge": "br 0"},
        {"name": "ok", "bridge": "br/0"},
        {"name": "ok", "bridge": "."},
        {"name": "ok", "bridge": ".."},
        {"name": "ok", "bridge": "brü"},
        {"name": "ok", "uplink": "eth0\n"},
        {"name": "ok", "uplink": "x" * 16},
        {"name": "ok", "uplink": ".."},
        {"name": "ok", "description": "d" * 256},
        {"name": "ok", "description": "nul\x00"},
        {"name": "ok", "unknown": 1},
    ],
)
def test_invalid_input_is_422(client: TestClient, payload: dict[str, object]) -> None:
    response = client.post("/api/v1/dvs", json=payload)
    assert error_of(response, 422)["code"] == "validation_error"
    assert client.get("/api/v1/dvs").json()["total"] == 0


@pytest.mark.parametrize(
    "payload",
    [{"name": None}, {"mtu": None}, {"mtu": 100}, {"bridge": "br9"}, {"uplink": "a/b"}],
)
def test_invalid_update_is_422(client: TestClient, payload: dict[str, object]) -> None:
    dvs = make_dvs(client, "a")
    response = client.patch(f"/api/v1/dvs/{dvs['id']}", json=payload)
    assert error_of(response, 422)["code"] == "validation_error"
    assert client.get(f"/api/v1/dvs/{dvs['id']}").json() == dvs


def test_unknown_site_is_422(client: TestClient) -> None:
    response = client.post("/api/v1/dvs", json={"name": "x", "site_id": str(uuid.uuid4())})
    assert error_of(response, 422)["code"] == "site_not_found"


def test_unknown_and_malformed_ids_are_404(client: TestClient) -> None:
    for path in (f"/api/v1/dvs/{uuid.uuid4()}", "/api/v1/dvs/not-a-uuid"):
        assert error_of(client.get(path), 404)["code"].endswith("not_found")
    assert error_of(client.get(f"/api/v1/dvs/{uuid.uuid4()}"))["code"] == "dvs_not_found"
    missing = f"/api/v1/dvs/{uuid.uuid4()}"
    assert error_of(client.patch(missing, json={"mtu": 1600}), 404)["code"] == "dvs_not_found"
    assert error_of(client.delete(missing), 404)["code"] == "dvs_not_found"


def test_delete_with_port_groups_conflicts(client: TestClient) -> None:
    dvs = make_dvs(client, "a")
    pg = make_port_group(client, dvs["id"], "pg")
    response = client.delete(f"/api/v1/dvs/{dvs['id']}")
    error = error_of(response, 409)
    assert error["code"] == "dvs_in_use"
    assert error["details"] == {"port_groups": 1}
    assert client.delete(f"/api/v1/port-groups/{pg['id']}").status_code == 204
    assert client.delete(f"/api/v1/dvs/{dvs['id']}").status_code == 204


def test_list_paging_sorting_filtering(client: TestClient) -> None:
    for name, mtu in (("c", 1500), ("a", 9000), ("d", 1500), ("b", 1600)):
        make_dvs(client, name, mtu=mtu)
    page = client.get("/api/v1/dvs", params={"sort": "name", "limit": 2, "offset": 1}).json()
    assert page["total"] == 4
    assert [d["name"] for d in page["items"]] == ["b", "c"]
    by_mtu = client.get("/api/v1/dvs", params={"sort": "-mtu,name"}).json()
    assert [d["name"] for d in by_mtu["items"]] == ["a", "b", "c", "d"]
    named = client.get("/api/v1/dvs", params={"name": "d"}).json()
    assert [d["name"] for d in named["items"]] == ["d"]
    site = client.get("/api/v1/dvs", params={"site_id": str(DEFAULT_SITE_ID)}).json()
    assert site["total"] == 4
    assert client.get("/api/v1/dvs", params={"site_id": str(uuid.uuid4())}).json()["total"] == 0


@pytest.mark.parametrize(
    "params",
    [{"sort": "uplink"}, {"limit": 0}, {"offset": -1}, {"site_id": "nope"}, {"name": "a\x00"}],
)
def test_bad_list_params_are_422(client: TestClient, params: dict[str, Any]) -> None:
    error_of(client.get("/api/v1/dvs", params=params), 422)


def test_viewer_cannot_write(
    anon_client: TestClient, make_user: MakeUser, client: TestClient
) -> None:
    dvs = make_dvs(client, "a")
    make_user("watcher", "viewer")
    headers = login(anon_client, "watcher")
    assert anon_client.get("/api/v1/dvs", headers=headers).status_code == 200
    attempts = [
        anon_client.post("/api/v1/dvs", json={"name": "x"}, headers=headers),
        anon_client.patch(f"/api/v1/dvs/{dvs['id']}", json={"mtu": 1600}, headers=headers),
        anon_client.delete(f"/api/v1/dvs/{dvs['id']}", headers=headers),
    ]
    for response in attempts:
        assert error_of(response, 403)["code"] == "forbidden"
    assert client.get(f"/api/v1/dvs/{dvs['id']}").json() == dvs
