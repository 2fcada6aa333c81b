"""Pool counts, the allocations list and deleting pools that hold addresses."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.helpers import error_of
from tests.vrm.network.api import make_pool, make_port_group
from tests.vrm.network.factories import add_allocation, add_nic
from vrm.models import IpAllocation, IpPool

RANGES = [{"start": "10.0.0.10", "end": "10.0.0.19"}]


@pytest.fixture
def pool(client: TestClient) -> dict[str, Any]:
    """A pool of ten addresses."""
    pg = make_port_group(client, name="pg")
    return make_pool(client, pg["id"], "p", "10.0.0.0/24", gateway="10.0.0.1", ranges=RANGES)


def test_counts_follow_allocations(
    client: TestClient, session: Session, pool: dict[str, Any]
) -> None:
    pool_id = uuid.UUID(pool["id"])
    nic = add_nic(session, uuid.UUID(pool["port_group_id"]))
    add_allocation(session, pool_id, "10.0.0.10", nic=nic)
    add_allocation(session, pool_id, "10.0.0.11", reserved=True)
    body = client.get(f"/api/v1/ip-pools/{pool['id']}").json()
    assert (body["total_addresses"], body["used"], body["free"]) == (10, 2, 8)
    listed = client.get("/api/v1/ip-pools").json()["items"][0]
    assert (listed["used"], listed["free"]) == (2, 8)


def test_allocations_list(client: TestClient, session: Session, pool: dict[str, Any]) -> None:
    pool_id = uuid.UUID(pool["id"])
    nic = add_nic(session, uuid.UUID(pool["port_group_id"]))
    bound = add_allocation(session, pool_id, "10.0.0.12", nic=nic)
    for address in ("10.0.0.10", "10.0.0.11"):
        add_allocation(session, pool_id, address, reserved=True)
    path = f"/api/v1/ip-pools/{pool['id']}/allocations"

    page = client.get(path, params={"sort": "address"}).json()
    assert page["total"] == 3
    assert [a["address"] for a in page["items"]] == ["10.0.0.10", "10.0.0.11", "10.0.0.12"]
    item = page["items"][2]
    assert set(item) == {"id", "pool_id", "address", "nic_id", "mac", "reserved", "created_at"}
    assert (item["nic_id"], item["mac"], item["reserved"]) == (str(nic.id), nic.mac, False)
    assert item["id"] == str(bound.id)

    second = client.get(path, params={"sort": "-address", "limit": 1, "offset": 1}).json()
    assert (second["total"], [a["address"] for a in second["items"]]) == (3, ["10.0.0.11"])
    reserved = client.get(path, params={"reserved": "true"}).json()
    assert reserved["total"] == 2
    by_nic = client.get(path, params={"nic_id": str(nic.id)}).json()
    assert [a["address"] for a in by_nic["items"]] == ["10.0.0.12"]


def test_allocations_of_other_pools_are_not_listed(
    client: TestClient, session: Session, pool: dict[str, Any]
) -> None:
    other = make_pool(client, pool["port_group_id"], "q", "10.1.0.0/24")
    add_allocation(session, uuid.UUID(other["id"]), "10.1.0.5", reserved=True)
    assert client.get(f"/api/v1/ip-pools/{pool['id']}/allocations").json() == {
        "items": [],
        "total": 0,
    }


@pytest.mark.parametrize("params", [{"sort": "mac"}, {"limit": 0}, {"reserved": "maybe"}])
def test_bad_allocation_list_params_are_422(
    client: TestClient, pool: dict[str, Any], params: dict[str, Any]
) -> None:
    error_of(client.get(f"/api/v1/ip-pools/{pool['id']}/allocations", params=params), 422)


def test_ipv6_allocations(client: TestClient, session: Session) -> None:
    pg = make_port_group(client, name="pg6")
    ranges = [{"start": "fd00::10", "end": "fd00::1f"}]
    pool = make_pool(client, pg["id"], "v6", "fd00::/64", ranges=ranges)
    add_allocation(session, uuid.UUID(pool["id"]), "fd00::10", reserved=True)
    body = client.get(f"/api/v1/ip-pools/{pool['id']}").json()
    assert (body["total_addresses"], body["used"], body["free"]) == (16, 1, 15)
    items = client.get(f"/api/v1/ip-pools/{pool['id']}/allocations").json()["items"]
    assert [a["address"] for a in items] == ["fd00::10"]


def test_delete_with_bound_addresses_conflicts(
    client: TestClient, session: Session, pool: dict[str, Any]
) -> None:
    nic = add_nic(session, uuid.UUID(pool["port_group_id"]))
    add_allocation(session, uuid.UUID(pool["id"]), "10.0.0.10", nic=nic)
    error = error_of(client.delete(f"/api/v1/ip-pools/{pool['id']}"), 409)
    assert error["code"] == "ip_pool_in_use"
    assert error["details"] == {"bound": 1}
    assert session.get(IpPool, uuid.UUID(pool["id"])) is not None


def test_delete_drops_reservations(
    client: TestClient, session: Session, pool: dict[str, Any]
) -> None:
    reservation = add_allocation(session, uuid.UUID(pool["id"]), "10.0.0.10", reserved=True)
    assert client.delete(f"/api/v1/ip-pools/{pool['id']}").status_code == 204
    session.expire_all()
    assert session.get(IpAllocation, reservation.id) is None


def test_new_ranges_must_keep_allocated_addresses(
    client: TestClient, session: Session, pool: dict[str, Any]
) -> None:
    nic = add_nic(session, uuid.UUID(pool["port_group_id"]))
    add_allocation(session, uuid.UUID(pool["id"]), "10.0.0.15", nic=nic)
    add_allocation(session, uuid.UUID(pool["id"]), "10.0.0.16", reserved=True)
    path = f"/api/v1/ip-pools/{pool['id']}"
    response = client.patch(path, json={"ranges": [{"start": "10.0.0.100", "end": "10.0.0.109"}]})
    error = error_of(response, 409)
    assert error["code"] == "ip_range_in_use"
    assert error["details"] == {"addresses": ["10.0.0.15"]}
    assert client.get(path).json()["ranges"] == pool["ranges"]
    keep = [
        {"start": "10.0.0.15", "end": "10.0.0.15"},
        {"start": "10.0.0.100", "end": "10.0.0.109"},
    ]
    response = client.patch(path, json={"ranges": keep})
    assert response.status_code == 200, response.text
    # The reservation of 10.0.0.16 stays; outside the ranges it takes nothing from them.
    assert (response.json()["total_addresses"], response.json()["free"]) == (11, 10)
    assert response.json()["reserved"] == ["10.0.0.16"]
