"""The placement rules API, on both database backends."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.conftest import MakeUser
from tests.helpers import error_of, login
from tests.vrm.scheduler.factories import add_cluster, add_sized_host, place_vm
from vrm.models import AuditRecord, Vm

RULES = "/api/v1/placement-rules"


@dataclass(frozen=True)
class Inventory:
    """A cluster with three VMs, a template and two hosts, and another cluster's VM and host."""

    cluster: str
    vms: list[str]
    hosts: list[str]
    template: str
    foreign_vm: str
    foreign_host: str


@pytest.fixture
def inv(session: Session) -> Inventory:
    cluster, other = add_cluster(session, name="main"), add_cluster(session, name="other")
    hosts = [add_sized_host(session, cluster.id, f"h{i}") for i in range(2)]
    vms = [place_vm(session, cluster.id, None, name=f"vm{i}") for i in range(3)]
    template = place_vm(session, cluster.id, None, is_template=True)
    return Inventory(
        cluster=str(cluster.id),
        vms=sorted(str(v.id) for v in vms),
        hosts=sorted(str(h.id) for h in hosts),
        template=str(template.id),
        foreign_vm=str(place_vm(session, other.id, None).id),
        foreign_host=str(add_sized_host(session, other.id, "far").id),
    )


def create(client: TestClient, inv: Inventory, **fields: Any) -> dict[str, Any]:
    """An affinity rule of the first two VMs, with ``fields`` changed; must succeed."""
    body = {"cluster_id": inv.cluster, "name": "r", "kind": "affinity", "vm_ids": inv.vms[:2]}
    response = client.post(RULES, json={**body, **fields})
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def test_life_cycle(client: TestClient, inv: Inventory) -> None:
    rule = create(client, inv, vm_ids=list(reversed(inv.vms[:2])))
    assert rule["cluster_id"] == inv.cluster
    assert (rule["kind"], rule["enabled"], rule["host_ids"]) == ("affinity", True, [])
    assert rule["vm_ids"] == inv.vms[:2]
    assert client.get(f"{RULES}/{rule['id']}").json() == rule

    patched = client.patch(
        f"{RULES}/{rule['id']}", json={"name": "web", "enabled": False, "vm_ids": inv.vms}
    )
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert (body["name"], body["enabled"], body["vm_ids"]) == ("web", False, inv.vms)
    assert body["updated_at"] >= rule["updated_at"]
    assert client.get(f"{RULES}/{rule['id']}").json() == body

    assert client.delete(f"{RULES}/{rule['id']}").status_code == 204
    assert error_of(client.get(f"{RULES}/{rule['id']}"), 404)["code"] == "placement_rule_not_found"


def test_host_rules_name_hosts(client: TestClient, inv: Inventory) -> None:
    rule = create(client, inv, kind="host_must", vm_ids=inv.vms[:1], host_ids=inv.hosts[:1])
    assert rule["host_ids"] == inv.hosts[:1]
    patched = client.patch(f"{RULES}/{rule['id']}", json={"host_ids": inv.hosts})
    assert patched.json()["host_ids"] == inv.hosts
    assert patched.json()["vm_ids"] == inv.vms[:1]


def test_list_filters_and_sorts(client: TestClient, inv: Inventory) -> None:
    create(client, inv, name="b")
    create(client, inv, name="a", kind="anti_affinity", enabled=False)
    create(client, inv, name="c", kind="host_must_not", vm_ids=inv.vms[:1], host_ids=inv.hosts)
    page = client.get(RULES, params={"cluster_id": inv.cluster, "sort": "name"}).json()
    assert [r["name"] for r in page["items"]] == ["a", "b", "c"]
    assert page["total"] == 3
    assert page["items"][2]["host_ids"] == inv.hosts
    only = client.get(RULES, params={"kind": "anti_affinity"}).json()
    assert [r["name"] for r in only["items"]] == ["a"]
    assert client.get(RULES, params={"enabled": "true"}).json()["total"] == 2
    assert client.get(RULES, params={"cluster_id": str(uuid.uuid4())}).json()["total"] == 0


INVALID: list[tuple[dict[str, Any], str]] = [
    ({"cluster_id": "UNKNOWN"}, "cluster_not_found"),
    ({"vm_ids": ["VM0"]}, "rule_needs_vms"),
    ({"kind": "anti_affinity", "host_ids": ["HOST0"]}, "rule_hosts_not_allowed"),
    ({"kind": "host_must", "vm_ids": ["VM0"]}, "rule_needs_hosts"),
    ({"kind": "host_must_not", "vm_ids": [], "host_ids": ["HOST0"]}, "rule_needs_vms"),
    ({"vm_ids": ["VM0", "FOREIGN_VM"]}, "vm_not_in_cluster"),
    ({"vm_ids": ["VM0", "UNKNOWN"]}, "vm_not_in_cluster"),
    ({"vm_ids": ["VM0", "TEMPLATE"]}, "vm_is_template"),
    ({"kind": "host_must", "vm_ids": ["VM0"], "host_ids": ["FOREIGN_HOST"]}, "host_not_in_cluster"),
    ({"kind": "host_must", "vm_ids": ["VM0"], "host_ids": ["UNKNOWN"]}, "host_not_in_cluster"),
    ({"vm_ids": ["VM0", "VM0"]}, "validation_error"),
    ({"kind": "together"}, "validation_error"),
    ({"name": "  "}, "validation_error"),
    ({"vm_ids": ["not-a-uuid", "VM0"]}, "validation_error"),
    ({"priority": 1}, "validation_error"),
]


def _resolve(value: Any, inv: Inventory) -> Any:
    """Placeholders in the table above → ids of the inventory."""
    names = {
        "UNKNOWN": str(uuid.uuid4()),
        "VM0": inv.vms[0],
        "FOREIGN_VM": inv.foreign_vm,
        "TEMPLATE": inv.template,
        "HOST0": inv.hosts[0],
        "FOREIGN_HOST": inv.foreign_host,
    }
    if isinstance(value, list):
        return [_resolve(v, inv) for v in value]
    return names.get(value, value) if isinstance(value, str) else value


@pytest.mark.parametrize(("fields", "code"), INVALID)
def test_invalid_rules_are_422(
    client: TestClient, inv: Inventory, fields: dict[str, Any], code: str
) -> None:
    body = {"cluster_id": inv.cluster, "name": "r", "kind": "affinity", "vm_ids": inv.vms[:2]}
    body |= {key: _resolve(value, inv) for key, value in fields.items()}
    assert error_of(client.post(RULES, json=body), 422)["code"] == code
    assert client.get(RULES).json()["total"] == 0


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"vm_ids": ["VM0"]}, "rule_needs_vms"),
        ({"host_ids": ["HOST0"]}, "rule_hosts_not_allowed"),
        ({"vm_ids": ["VM0", "FOREIGN_VM"]}, "vm_not_in_cluster"),
        ({"name": None}, "validation_error"),
        ({"kind": "anti_affinity"}, "validation_error"),
    ],
)
def test_invalid_changes_are_422_and_change_nothing(
    client: TestClient, inv: Inventory, fields: dict[str, Any], code: str
) -> None:
    rule = create(client, inv)
    body = {key: _resolve(value, inv) for key, value in fields.items()}
    assert error_of(client.patch(f"{RULES}/{rule['id']}", json=body), 422)["code"] == code
    assert client.get(f"{RULES}/{rule['id']}").json() == rule


def test_names_are_unique_per_cluster(client: TestClient, session: Session, inv: Inventory) -> None:
    create(client, inv, name="same")
    duplicate = client.post(
        RULES,
        json={"cluster_id": inv.cluster, "name": "same", "kind": "affinity", "vm_ids": inv.vms},
    )
    assert error_of(duplicate, 409)["code"] == "name_conflict"
    other = add_cluster(session)
    vms = [str(place_vm(session, other.id, None).id) for _ in range(2)]
    elsewhere = client.post(
        RULES, json={"cluster_id": str(other.id), "name": "same", "kind": "affinity", "vm_ids": vms}
    )
    assert elsewhere.status_code == 201
    second = create(client, inv, name="second")
    renamed = client.patch(f"{RULES}/{second['id']}", json={"name": "same"})
    assert error_of(renamed, 409)["code"] == "name_conflict"


def test_unknown_and_malformed_ids_are_404(client: TestClient) -> None:
    for rule_id in (str(uuid.uuid4()), "nope"):
        assert client.get(f"{RULES}/{rule_id}").status_code == 404
    missing = f"{RULES}/{uuid.uuid4()}"
    assert error_of(client.patch(missing, json={"enabled": False}), 404)["code"] == (
        "placement_rule_not_found"
    )
    assert error_of(client.delete(missing), 404)["code"] == "placement_rule_not_found"


def test_viewers_read_but_do_not_write(
    client: TestClient, anon_client: TestClient, inv: Inventory, make_user: MakeUser
) -> None:
    rule = create(client, inv)
    make_user("watcher", "viewer")
    headers = login(anon_client, "watcher")
    assert anon_client.get(f"{RULES}/{rule['id']}", headers=headers).status_code == 200
    body = {"cluster_id": inv.cluster, "name": "x", "kind": "affinity", "vm_ids": inv.vms}
    assert anon_client.post(RULES, json=body, headers=headers).status_code == 403
    patch = anon_client.patch(f"{RULES}/{rule['id']}", json={"enabled": False}, headers=headers)
    assert error_of(patch, 403)["code"] == "forbidden"
    assert anon_client.delete(f"{RULES}/{rule['id']}", headers=headers).status_code == 403
    assert anon_client.get(RULES).status_code == 401


def test_writes_are_audited(client: TestClient, session: Session, inv: Inventory) -> None:
    rule = create(client, inv)
    client.patch(f"{RULES}/{rule['id']}", json={"enabled": False, "vm_ids": inv.vms})
    client.delete(f"{RULES}/{rule['id']}")
    stmt = select(AuditRecord).where(AuditRecord.target_type == "placement_rule")
    records = {r.action: r for r in session.scalars(stmt)}
    assert set(records) == {
        "placement_rule.create",
        "placement_rule.update",
        "placement_rule.delete",
    }
    assert all(str(r.target_id) == rule["id"] and r.username == "root" for r in records.values())
    assert records["placement_rule.update"].details == {"enabled": False, "vm_ids": inv.vms}


def test_deleting_a_vm_drops_it_from_its_rules(
    client: TestClient, session: Session, inv: Inventory
) -> None:
    rule = create(client, inv, vm_ids=inv.vms)
    vm = session.get(Vm, uuid.UUID(inv.vms[0]))
    session.delete(vm)
    session.commit()
    assert client.get(f"{RULES}/{rule['id']}").json()["vm_ids"] == inv.vms[1:]
