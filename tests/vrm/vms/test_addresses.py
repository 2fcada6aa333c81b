"""NIC addresses through the VM API: automatic, requested, refused, released and reused.

No task worker runs: creates stay queued; cancelling a queued create forgets the VM (and
its NICs), which is how these tests delete one. The real delete, after the domain is
gone, is tested with real agents in tests/e2e.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.helpers import error_of
from tests.vrm.network.api import make_pool
from tests.vrm.vms.helpers import create, settle, vm_body
from vrm.config import Settings
from vrm.models.enums import VmState
from vrm.vms.build import new_mac
from vrm.vms.repository import VmRepository

RANGE = [{"start": "10.0.0.10", "end": "10.0.0.12"}]
RANGE_LATE = [{"start": "10.5.0.10", "end": "10.5.0.12"}]


@pytest.fixture
def pool(client: TestClient, place: dict[str, Any]) -> dict[str, Any]:
    """Three addresses, 10.0.0.10-12, on the port group; 10.0.0.11 reserved."""
    return make_pool(
        client,
        place["group"],
        "p4",
        "10.0.0.0/24",
        gateway="10.0.0.1",
        dns_servers=["10.0.0.2"],
        ranges=RANGE,
        reserved=["10.0.0.11", "10.0.0.200"],
    )


def nic_of(body: dict[str, Any]) -> dict[str, Any]:
    nic: dict[str, Any] = body["vm"]["nics"][0]
    return nic


def forget(client: TestClient, body: dict[str, Any]) -> None:
    """Cancel the VM's queued create: the VM, its NICs and their addresses go."""
    cancelled = client.post(f"/api/v1/tasks/{body['task']['id']}/cancel")
    assert cancelled.status_code == 200, cancelled.text


def test_a_nic_gets_the_lowest_free_address_and_the_pool_counts_it(
    client: TestClient, place: dict[str, Any], pool: dict[str, Any]
) -> None:
    assert (pool["total_addresses"], pool["used"], pool["free"]) == (3, 1, 2)
    assert pool["reserved"] == ["10.0.0.11", "10.0.0.200"]
    first = create(client, place)
    assert nic_of(first)["ips"] == ["10.0.0.10"]
    second = create(client, place, name="web-2")
    assert nic_of(second)["ips"] == ["10.0.0.12"]  # 10.0.0.11 is reserved
    counts = client.get(f"/api/v1/ip-pools/{pool['id']}").json()
    assert (counts["used"], counts["free"]) == (3, 0)
    listed = client.get(f"/api/v1/ip-pools/{pool['id']}/allocations", params={"sort": "address"})
    bound = [a for a in listed.json()["items"] if not a["reserved"]]
    assert [(a["address"], a["mac"], a["nic_id"]) for a in bound] == [
        ("10.0.0.10", nic_of(first)["mac"], nic_of(first)["id"]),
        ("10.0.0.12", nic_of(second)["mac"], nic_of(second)["id"]),
    ]
    shown = client.get(f"/api/v1/vms/{first['vm']['id']}").json()
    assert shown["nics"][0]["ips"] == ["10.0.0.10"]
    assert shown["nics"][0]["vlan_id"] == 100


def test_an_exhausted_pool_refuses_and_keeps_nothing(
    client: TestClient, place: dict[str, Any], pool: dict[str, Any]
) -> None:
    create(client, place)
    create(client, place, name="web-2")
    refused = client.post("/api/v1/vms", json=vm_body(place, name="web-3"))
    error = error_of(refused, 409)
    assert error["code"] == "ip_pool_exhausted"
    assert error["details"]["ip_pool_ids"] == [pool["id"]]
    assert client.get("/api/v1/vms", params={"name": "web-3"}).json()["total"] == 0
    assert client.get(f"/api/v1/ip-pools/{pool['id']}").json()["used"] == 3


def test_released_addresses_are_reused(
    client: TestClient, place: dict[str, Any], pool: dict[str, Any]
) -> None:
    first = create(client, place)
    create(client, place, name="web-2")
    forget(client, first)
    assert client.get(f"/api/v1/ip-pools/{pool['id']}").json()["used"] == 2
    again = create(client, place, name="web-1")
    assert nic_of(again)["ips"] == ["10.0.0.10"]


def test_a_requested_address_is_given_when_free(
    client: TestClient, place: dict[str, Any], pool: dict[str, Any]
) -> None:
    nics = [{"port_group_id": place["group"], "ips": ["10.0.0.12"]}]
    body = create(client, place, nics=nics)
    assert nic_of(body)["ips"] == ["10.0.0.12"]


@pytest.mark.parametrize(
    ("ips", "status", "code"),
    [
        (["10.0.0.10"], 409, "ip_in_use"),  # the first VM has it
        (["10.0.0.11"], 409, "ip_in_use"),  # reserved
        (["10.9.0.1"], 422, "ip_outside_cidr"),
        (["10.0.0.50"], 422, "ip_outside_range"),
        (["2001:db8::1"], 422, "ip_outside_cidr"),
        (["10.0.0.12", "10.0.0.10"], 422, "duplicate_ip_version"),
        (["not-an-ip"], 422, "validation_error"),
    ],
)
def test_bad_requested_addresses_are_refused(
    client: TestClient,
    place: dict[str, Any],
    pool: dict[str, Any],
    ips: list[str],
    status: int,
    code: str,
) -> None:
    create(client, place)
    nics = [{"port_group_id": place["group"], "ips": ips}]
    response = client.post("/api/v1/vms", json=vm_body(place, name="web-2", nics=nics))
    assert error_of(response, status)["code"] == code
    used = client.get(f"/api/v1/ip-pools/{pool['id']}").json()["used"]
    assert used == 2  # the first VM's address and the reservation in the range


def test_a_dual_stack_port_group_gives_one_address_of_each_version(
    client: TestClient, place: dict[str, Any], pool: dict[str, Any]
) -> None:
    six = [{"start": "2001:db8::10", "end": "2001:db8::1f"}]
    make_pool(client, place["group"], "p6", "2001:db8::/64", ranges=six)
    body = create(client, place)
    assert nic_of(body)["ips"] == ["10.0.0.10", "2001:db8::10"]


def test_a_port_group_without_pools_gives_no_address_and_refuses_requested_ones(
    client: TestClient, place: dict[str, Any]
) -> None:
    assert nic_of(create(client, place))["ips"] == []
    nics = [{"port_group_id": place["group"], "ips": ["10.0.0.5"]}]
    refused = client.post("/api/v1/vms", json=vm_body(place, name="web-2", nics=nics))
    assert error_of(refused, 422)["code"] == "no_ip_pool"


def test_attached_nics_and_clones_get_addresses(
    client: TestClient, session: Session, place: dict[str, Any], pool: dict[str, Any]
) -> None:
    body = create(client, place, nics=[])
    settle(session, body["vm"]["id"], VmState.STOPPED)
    url = f"/api/v1/vms/{body['vm']['id']}/actions"
    attached = client.post(f"{url}/attach-nic", json={"port_group_id": place["group"]})
    assert attached.status_code == 202, attached.text
    assert nic_of(attached.json())["ips"] == ["10.0.0.10"]
    settle(session, body["vm"]["id"], VmState.STOPPED)
    cloned = client.post(f"{url}/clone", json={"name": "copy", "mode": "full"})
    assert cloned.status_code == 202, cloned.text
    assert nic_of(cloned.json())["ips"] == ["10.0.0.12"]
    assert nic_of(cloned.json())["mac"] != nic_of(attached.json())["mac"]


def test_pools_and_port_groups_holding_addresses_cannot_be_deleted(
    client: TestClient, place: dict[str, Any], pool: dict[str, Any]
) -> None:
    create(client, place)
    error = error_of(client.delete(f"/api/v1/ip-pools/{pool['id']}"), 409)
    assert error["code"] == "ip_pool_in_use"
    error_of(client.delete(f"/api/v1/port-groups/{place['group']}"), 409)


def test_reserved_addresses_must_be_in_the_cidr_and_unbound(
    client: TestClient, place: dict[str, Any], pool: dict[str, Any]
) -> None:
    path = f"/api/v1/ip-pools/{pool['id']}"
    outside = client.patch(path, json={"reserved": ["10.1.0.1"]})
    assert error_of(outside, 422)["code"] == "ip_outside_cidr"
    create(client, place)
    bound = client.patch(path, json={"reserved": ["10.0.0.10"]})
    assert error_of(bound, 409)["code"] == "ip_in_use"
    changed = client.patch(path, json={"reserved": ["10.0.0.12"]})
    assert changed.status_code == 200, changed.text
    assert (changed.json()["reserved"], changed.json()["free"]) == (["10.0.0.12"], 1)


def test_macs_come_from_the_configured_prefix(session: Session) -> None:
    repo = VmRepository(session)
    assert new_mac(repo, "0a:bb:cc:dd:ee").startswith("0a:bb:cc:dd:ee:")
    assert len(new_mac(repo, "02").split(":")) == 6
    assert Settings(mac_prefix="0A:BB").mac_prefix == "0a:bb"
    for bad in ("01:00:5e", "02:4f:56:00:00:00", "zz"):
        with pytest.raises(ValueError, match="mac_prefix|unicast"):
            Settings(mac_prefix=bad)


def test_set_ips_moves_a_nics_addresses_at_once(
    client: TestClient, session: Session, place: dict[str, Any], pool: dict[str, Any]
) -> None:
    body = create(client, place)
    settle(session, body["vm"]["id"], VmState.STOPPED)
    url = f"/api/v1/vms/{body['vm']['id']}/actions/set-ips"
    mac = nic_of(body)["mac"]
    unknown = client.post(url, json={"mac": "02:00:00:00:00:99", "ips": ["10.0.0.12"]})
    assert error_of(unknown, 409)["code"] == "nic_not_found"
    outside = client.post(url, json={"mac": mac, "ips": ["10.0.0.50"]})
    assert error_of(outside, 422)["code"] == "ip_outside_range"
    moved = client.post(url, json={"mac": mac, "ips": ["10.0.0.12"]})
    assert moved.status_code == 202, moved.text
    assert nic_of(moved.json())["ips"] == ["10.0.0.12"]
    assert moved.json()["task"]["params"]["previous_ips"] == ["10.0.0.10"]
    listed = client.get(f"/api/v1/ip-pools/{pool['id']}/allocations", params={"reserved": False})
    assert [a["address"] for a in listed.json()["items"]] == ["10.0.0.12"]
    busy = client.post(url, json={"mac": mac, "ips": ["10.0.0.10"]})
    assert error_of(busy, 409)["code"] == "vm_busy"


def test_a_running_nic_cannot_gain_its_first_address(
    client: TestClient, session: Session, place: dict[str, Any]
) -> None:
    body = create(client, place)
    settle(session, body["vm"]["id"], VmState.RUNNING)
    make_pool(client, place["group"], "late", "10.5.0.0/24", ranges=RANGE_LATE)
    url = f"/api/v1/vms/{body['vm']['id']}/actions/set-ips"
    refused = client.post(url, json={"mac": nic_of(body)["mac"]})
    assert error_of(refused, 409)["code"] == "vm_state_conflict"
    assert client.get(f"/api/v1/vms/{body['vm']['id']}").json()["nics"][0]["ips"] == []
