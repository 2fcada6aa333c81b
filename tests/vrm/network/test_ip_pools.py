"""The IP pool API, on both database backends."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.conftest import MakeUser
from tests.helpers import error_of, login
from tests.vrm.network.api import make_pool, make_port_group
from vrm.models import IpPool, IpRange

V4_RANGES = [
    {"start": "10.0.0.10", "end": "10.0.0.19"},
    {"start": "10.0.0.100", "end": "10.0.0.199"},
]


@pytest.fixture
def pg(client: TestClient) -> dict[str, Any]:
    """A port group to put pools on."""
    return make_port_group(client, name="pg", vlan_id=10)


def _rows(session: Session) -> tuple[int, int]:
    """How many pools and ranges the database holds."""
    pools = session.scalar(select(func.count()).select_from(IpPool)) or 0
    ranges = session.scalar(select(func.count()).select_from(IpRange)) or 0
    return pools, ranges


def test_create_get_update_delete(client: TestClient, pg: dict[str, Any]) -> None:
    body = make_pool(
        client,
        pg["id"],
        "office",
        "10.0.0.0/24",
        gateway="10.0.0.1",
        dns_servers=["10.0.0.2", "9.9.9.9"],
        ranges=list(reversed(V4_RANGES)),
        description="desks",
    )
    assert body["port_group_id"] == pg["id"]
    assert (body["cidr"], body["ip_version"], body["gateway"]) == ("10.0.0.0/24", 4, "10.0.0.1")
    assert body["dns_servers"] == ["10.0.0.2", "9.9.9.9"]
    assert [(r["start"], r["end"], r["size"]) for r in body["ranges"]] == [
        ("10.0.0.10", "10.0.0.19", 10),
        ("10.0.0.100", "10.0.0.199", 100),
    ]
    assert (body["total_addresses"], body["used"], body["free"]) == (110, 0, 110)
    assert client.get(f"/api/v1/ip-pools/{body['id']}").json() == body

    patch = {
        "name": "office2",
        "description": "",
        "gateway": "10.0.0.254",
        "dns_servers": ["1.1.1.1"],
        "ranges": [{"start": "10.0.0.1", "end": "10.0.0.5"}],
    }
    patched = client.patch(f"/api/v1/ip-pools/{body['id']}", json=patch)
    assert patched.status_code == 200, patched.text
    new = patched.json()
    assert (new["name"], new["description"], new["gateway"]) == ("office2", "", "10.0.0.254")
    assert new["dns_servers"] == ["1.1.1.1"]
    assert [(r["start"], r["end"]) for r in new["ranges"]] == [("10.0.0.1", "10.0.0.5")]
    assert (new["total_addresses"], new["free"], new["cidr"]) == (5, 5, "10.0.0.0/24")
    assert client.get(f"/api/v1/ip-pools/{body['id']}").json() == new

    assert client.delete(f"/api/v1/ip-pools/{body['id']}").status_code == 204
    assert (
        error_of(client.get(f"/api/v1/ip-pools/{body['id']}"), 404)["code"] == "ip_pool_not_found"
    )


def test_minimal_pool_has_no_addresses(client: TestClient, pg: dict[str, Any]) -> None:
    body = make_pool(client, pg["id"])
    assert (body["gateway"], body["dns_servers"], body["ranges"]) == (None, [], [])
    assert (body["total_addresses"], body["used"], body["free"]) == (0, 0, 0)


def test_ipv6_pool_is_canonical(client: TestClient, pg: dict[str, Any]) -> None:
    body = make_pool(
        client,
        pg["id"],
        "v6",
        "2001:DB8:0:0::/64",
        gateway="2001:db8:0:0:0:0:0:1",
        dns_servers=["2001:4860:4860::8888", "8.8.8.8"],
        ranges=[{"start": "2001:db8::1:0", "end": "2001:DB8::1:FFFF"}],
    )
    assert (body["cidr"], body["ip_version"], body["gateway"]) == (
        "2001:db8::/64",
        6,
        "2001:db8::1",
    )
    assert body["ranges"] == [{"start": "2001:db8::1:0", "end": "2001:db8::1:ffff", "size": 65536}]
    assert body["total_addresses"] == 65536
    big = client.patch(
        f"/api/v1/ip-pools/{body['id']}",
        json={"ranges": [{"start": "2001:db8::100", "end": "2001:db8::ffff:ffff:ffff:ffff"}]},
    )
    assert big.status_code == 200, big.text
    assert big.json()["total_addresses"] == 2**64 - 256


def test_v4_and_v6_pools_share_a_port_group(client: TestClient, pg: dict[str, Any]) -> None:
    make_pool(client, pg["id"], "v4", "10.0.0.0/8")
    make_pool(client, pg["id"], "v6", "::/0")
    assert client.get("/api/v1/ip-pools").json()["total"] == 2


@pytest.mark.parametrize(
    ("cidr", "gateway"), [("10.0.0.0/31", "10.0.0.0"), ("10.0.0.7/32", "10.0.0.7")]
)
def test_tiny_ipv4_networks_use_every_address(
    client: TestClient, pg: dict[str, Any], cidr: str, gateway: str
) -> None:
    body = make_pool(client, pg["id"], "tiny", cidr, gateway=gateway)
    assert body["gateway"] == gateway


def test_host_bits_set_suggests_the_network(
    client: TestClient, pg: dict[str, Any], session: Session
) -> None:
    response = client.post(
        "/api/v1/ip-pools", json={"name": "p", "port_group_id": pg["id"], "cidr": "10.0.0.5/24"}
    )
    error = error_of(response, 422)
    assert error["code"] == "invalid_cidr"
    assert "10.0.0.0/24" in error["message"]
    assert error["details"]["suggestion"] == "10.0.0.0/24"
    assert _rows(session) == (0, 0)


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"cidr": "garbage"}, "invalid_cidr"),
        ({"cidr": "10.0.0.0"}, "invalid_cidr"),
        ({"cidr": "10.0.0.0/33"}, "invalid_cidr"),
        ({"cidr": "10.0.0.0/"}, "invalid_cidr"),
        ({"cidr": "2001:db8::1/64"}, "invalid_cidr"),
        ({"cidr": "fe80::%eth0/64"}, "invalid_cidr"),
        ({"cidr": "300.0.0.0/8"}, "invalid_cidr"),
        ({"cidr": ""}, "validation_error"),
        ({"cidr": "1" * 65}, "validation_error"),
        ({"cidr": 10}, "validation_error"),
        ({"gateway": "10.0.1.1"}, "gateway_outside_cidr"),
        ({"gateway": "10.0.0.0"}, "gateway_outside_cidr"),
        ({"gateway": "10.0.0.255"}, "gateway_outside_cidr"),
        ({"gateway": "2001:db8::1"}, "ip_version_mismatch"),
        ({"gateway": "gw"}, "validation_error"),
        ({"gateway": "10.0.0.01"}, "validation_error"),
        ({"gateway": "fe80::1%eth0"}, "validation_error"),
        ({"gateway": 167772161}, "validation_error"),
        ({"dns_servers": ["1.1.1.1"] * 2}, "validation_error"),
        ({"dns_servers": [f"10.0.0.{i}" for i in range(1, 6)]}, "validation_error"),
        ({"dns_servers": ["dns.example.com"]}, "validation_error"),
        ({"dns_servers": "1.1.1.1"}, "validation_error"),
        ({"ranges": [{"start": "10.0.1.1", "end": "10.0.1.9"}]}, "range_outside_cidr"),
        ({"ranges": [{"start": "10.0.0.250", "end": "10.0.1.9"}]}, "range_outside_cidr"),
        ({"ranges": [{"start": "10.0.0.0", "end": "10.0.0.9"}]}, "range_outside_cidr"),
        ({"ranges": [{"start": "10.0.0.200", "end": "10.0.0.255"}]}, "range_outside_cidr"),
        ({"ranges": [{"start": "10.0.0.9", "end": "10.0.0.1"}]}, "invalid_range"),
        ({"ranges": [{"start": "10.0.0.1", "end": "2001:db8::1"}]}, "ip_version_mismatch"),
        ({"ranges": [{"start": "10.0.0.1"}]}, "validation_error"),
        ({"ranges": [{"start": "10.0.0.1", "end": "x"}]}, "validation_error"),
        ({"ranges": [{"start": "10.0.0.1", "end": "10.0.0.2", "step": 1}]}, "validation_error"),
        (
            {"ranges": [{"start": f"10.0.0.{i}", "end": f"10.0.0.{i}"} for i in range(1, 66)]},
            "validation_error",
        ),
        ({"port_group_id": str(uuid.uuid4())}, "port_group_not_found"),
        ({"port_group_id": "pg"}, "validation_error"),
        ({"name": ""}, "validation_error"),
        ({"description": "d" * 256}, "validation_error"),
        ({"description": "\x00"}, "validation_error"),
        ({"vlan_id": 3}, "validation_error"),
    ],
)
def test_invalid_input_is_422(
    client: TestClient, pg: dict[str, Any], session: Session, fields: dict[str, Any], code: str
) -> None:
    body = {"name": "p", "port_group_id": pg["id"], "cidr": "10.0.0.0/24", **fields}
    error = error_of(client.post("/api/v1/ip-pools", json=body), 422)
    assert error["code"] == code, error
    assert _rows(session) == (0, 0)


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        (
            {
                "ranges": [
                    {"start": "10.0.0.10", "end": "10.0.0.20"},
                    {"start": "10.0.0.20", "end": "10.0.0.30"},
                ]
            },
            "ip_range_overlap",
        ),
        (
            {
                "ranges": [
                    {"start": "10.0.0.10", "end": "10.0.0.90"},
                    {"start": "10.0.0.20", "end": "10.0.0.30"},
                ]
            },
            "ip_range_overlap",
        ),
        (
            {
                "ranges": [
                    {"start": "10.0.0.5", "end": "10.0.0.5"},
                    {"start": "10.0.0.5", "end": "10.0.0.5"},
                ]
            },
            "ip_range_overlap",
        ),
        ({"gateway": "10.0.0.15", "ranges": V4_RANGES}, "gateway_in_range"),
    ],
)
def test_overlapping_ranges_conflict(
    client: TestClient, pg: dict[str, Any], session: Session, fields: dict[str, Any], code: str
) -> None:
    body = {"name": "p", "port_group_id": pg["id"], "cidr": "10.0.0.0/24", **fields}
    assert error_of(client.post("/api/v1/ip-pools", json=body), 409)["code"] == code
    assert _rows(session) == (0, 0)


def test_duplicate_name_conflicts(client: TestClient, pg: dict[str, Any]) -> None:
    make_pool(client, pg["id"], "p", "10.0.0.0/24")
    other = make_port_group(client, name="other")
    body = {"name": "p", "port_group_id": other["id"], "cidr": "10.1.0.0/24"}
    assert error_of(client.post("/api/v1/ip-pools", json=body), 409)["code"] == "name_conflict"
    q = make_pool(client, pg["id"], "q", "10.1.0.0/24")
    response = client.patch(f"/api/v1/ip-pools/{q['id']}", json={"name": "p"})
    assert error_of(response, 409)["code"] == "name_conflict"


@pytest.mark.parametrize("cidr", ["10.0.0.0/24", "10.0.0.128/25", "10.0.0.0/16", "10.0.0.77/32"])
def test_overlapping_cidrs_on_one_port_group_conflict(
    client: TestClient, pg: dict[str, Any], cidr: str
) -> None:
    first = make_pool(client, pg["id"], "first", "10.0.0.0/24")
    response = client.post(
        "/api/v1/ip-pools", json={"name": "x", "port_group_id": pg["id"], "cidr": cidr}
    )
    error = error_of(response, 409)
    assert error["code"] == "cidr_overlap"
    assert error["details"] == {"ip_pool_id": first["id"], "cidr": "10.0.0.0/24"}
    assert client.get("/api/v1/ip-pools").json()["total"] == 1


def test_same_cidr_on_other_port_group_is_fine(client: TestClient, pg: dict[str, Any]) -> None:
    make_pool(client, pg["id"], "a", "10.0.0.0/24")
    make_pool(client, pg["id"], "b", "10.0.1.0/24")
    other = make_port_group(client, name="other", vlan_id=20)
    make_pool(client, other["id"], "c", "10.0.0.0/24")
    assert client.get("/api/v1/ip-pools").json()["total"] == 3


def test_update_revalidates(client: TestClient, pg: dict[str, Any]) -> None:
    pool = make_pool(client, pg["id"], "p", gateway="10.0.0.1", ranges=V4_RANGES)
    path = f"/api/v1/ip-pools/{pool['id']}"
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"gateway": "10.0.0.15"}, 409, "gateway_in_range"),
        ({"ranges": [{"start": "10.0.0.1", "end": "10.0.0.9"}]}, 409, "gateway_in_range"),
        (
            {"ranges": [*V4_RANGES, {"start": "10.0.0.150", "end": "10.0.0.160"}]},
            409,
            "ip_range_overlap",
        ),
        ({"ranges": [{"start": "10.9.0.1", "end": "10.9.0.9"}]}, 422, "range_outside_cidr"),
        ({"gateway": "192.168.0.1"}, 422, "gateway_outside_cidr"),
        ({"gateway": "::1"}, 422, "ip_version_mismatch"),
        ({"cidr": "10.0.0.0/16"}, 422, "validation_error"),
        ({"port_group_id": pg["id"]}, 422, "validation_error"),
        ({"name": None}, 422, "validation_error"),
        ({"ranges": None}, 422, "validation_error"),
        ({"dns_servers": None}, 422, "validation_error"),
        ({"dns_servers": ["1.1.1.1", "x"]}, 422, "validation_error"),
        ({"description": "a\x00"}, 422, "validation_error"),
    ]
    for payload, status, code in cases:
        assert error_of(client.patch(path, json=payload), status)["code"] == code, payload
        assert client.get(path).json() == pool, payload


def test_update_clears_gateway_and_ranges(client: TestClient, pg: dict[str, Any]) -> None:
    pool = make_pool(client, pg["id"], "p", gateway="10.0.0.1", ranges=V4_RANGES)
    response = client.patch(f"/api/v1/ip-pools/{pool['id']}", json={"gateway": None, "ranges": []})
    assert response.status_code == 200, response.text
    assert (response.json()["gateway"], response.json()["ranges"]) == (None, [])
    # The gateway is gone, so a range may now cover its old address.
    response = client.patch(
        f"/api/v1/ip-pools/{pool['id']}",
        json={"ranges": [{"start": "10.0.0.1", "end": "10.0.0.9"}]},
    )
    assert response.json()["total_addresses"] == 9


def test_update_keeps_same_start_in_new_ranges(client: TestClient, pg: dict[str, Any]) -> None:
    pool = make_pool(client, pg["id"], "p", ranges=V4_RANGES)
    wider = [
        {"start": "10.0.0.10", "end": "10.0.0.49"},
        {"start": "10.0.0.100", "end": "10.0.0.199"},
    ]
    response = client.patch(f"/api/v1/ip-pools/{pool['id']}", json={"ranges": wider})
    assert response.status_code == 200, response.text
    assert response.json()["total_addresses"] == 140


def test_unknown_and_malformed_ids_are_404(client: TestClient) -> None:
    missing = f"/api/v1/ip-pools/{uuid.uuid4()}"
    assert error_of(client.get(missing), 404)["code"] == "ip_pool_not_found"
    assert error_of(client.patch(missing, json={"name": "n"}), 404)["code"] == "ip_pool_not_found"
    assert error_of(client.delete(missing), 404)["code"] == "ip_pool_not_found"
    assert error_of(client.get(f"{missing}/allocations"), 404)["code"] == "ip_pool_not_found"
    assert error_of(client.get("/api/v1/ip-pools/1"), 404)["code"] == "not_found"


def test_list_paging_sorting_filtering(client: TestClient, pg: dict[str, Any]) -> None:
    other = make_port_group(client, name="other")
    make_pool(
        client, pg["id"], "c", "10.0.2.0/24", ranges=[{"start": "10.0.2.1", "end": "10.0.2.4"}]
    )
    make_pool(client, pg["id"], "a", "10.0.0.0/24")
    make_pool(client, other["id"], "b", "10.0.1.0/24")
    make_pool(client, other["id"], "d", "fd00::/64")
    page = client.get("/api/v1/ip-pools", params={"sort": "name", "limit": 2, "offset": 1}).json()
    assert page["total"] == 4
    assert [p["name"] for p in page["items"]] == ["b", "c"]
    assert page["items"][1]["total_addresses"] == 4
    desc = client.get("/api/v1/ip-pools", params={"sort": "-cidr"}).json()
    assert [p["name"] for p in desc["items"]] == ["d", "c", "b", "a"]
    on_pg = client.get(
        "/api/v1/ip-pools", params={"port_group_id": pg["id"], "sort": "name"}
    ).json()
    assert [p["name"] for p in on_pg["items"]] == ["a", "c"]
    named = client.get("/api/v1/ip-pools", params={"name": "d"}).json()
    assert [p["cidr"] for p in named["items"]] == ["fd00::/64"]


@pytest.mark.parametrize(
    "params", [{"sort": "gateway"}, {"offset": -5}, {"port_group_id": "1"}, {"name": "\x00"}]
)
def test_bad_list_params_are_422(client: TestClient, params: dict[str, Any]) -> None:
    error_of(client.get("/api/v1/ip-pools", params=params), 422)


def test_viewer_cannot_write(
    anon_client: TestClient, make_user: MakeUser, client: TestClient, pg: dict[str, Any]
) -> None:
    pool = make_pool(client, pg["id"], "p")
    make_user("watcher", "viewer")
    headers = login(anon_client, "watcher")
    assert anon_client.get("/api/v1/ip-pools", headers=headers).status_code == 200
    assert (
        anon_client.get(f"/api/v1/ip-pools/{pool['id']}/allocations", headers=headers).status_code
        == 200
    )
    body = {"name": "q", "port_group_id": pg["id"], "cidr": "10.9.0.0/24"}
    attempts = [
        anon_client.post("/api/v1/ip-pools", json=body, headers=headers),
        anon_client.patch(f"/api/v1/ip-pools/{pool['id']}", json={"name": "r"}, headers=headers),
        anon_client.delete(f"/api/v1/ip-pools/{pool['id']}", headers=headers),
    ]
    for response in attempts:
        assert error_of(response, 403)["code"] == "forbidden"
    assert client.get(f"/api/v1/ip-pools/{pool['id']}").json() == pool
