"""The VM API on both backends: creation with placement, state rules, busy VMs, cancel.

No task worker runs here: tasks stay queued, which makes busy VMs deterministic. The
work itself is tested with real agents in tests/e2e.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.conftest import MakeUser
from tests.helpers import error_of, login
from tests.vrm.vms.helpers import create, settle, vm_body
from vrm.models import AuditRecord, Host, Task, Vm, Volume
from vrm.models.enums import VmState


def test_create_places_and_queues_a_task(
    client: TestClient, session: Session, place: dict[str, Any]
) -> None:
    body = create(client, place)
    vm, task = body["vm"], body["task"]
    assert vm["state"] == "creating"
    assert vm["task_state"] == "create"
    assert vm["host_id"] == str(place["host"].id)
    assert [d["device"] for d in vm["disks"]] == ["vda"]
    assert vm["nics"][0]["mac"].startswith("02:4f:56:")
    assert task["type"] == "vm.create"
    assert task["state"] == "queued"
    assert task["target_id"] == vm["id"]
    volume = session.get(Volume, uuid.UUID(vm["disks"][0]["volume_id"]))
    assert volume is not None
    assert volume.state == "creating"
    assert volume.capacity_mib == 1024
    assert client.get(f"/api/v1/vms/{vm['id']}").json()["name"] == "web-1"


@pytest.mark.parametrize(
    "changes",
    [
        {"vcpus": 4, "max_vcpus": 2},
        {"memory_mib": 2048, "max_memory_mib": 1024},
        {"vcpus": 0},
        {"name": ""},
        {"disks": [{"size_mib": 10, "volume_id": str(uuid.uuid4())}]},
        {"disks": [{}]},
        {"disks": [{"size_mib": -1}]},
        {"nics": [{"port_group_id": str(uuid.uuid4())}]},
        {"nics": [{"port_group_id": "x", "mac": "zz"}]},
        {"cluster_id": str(uuid.uuid4())},
        {"boot_order": ["floppy"]},
    ],
)
def test_invalid_requests_are_422_and_create_nothing(
    client: TestClient, session: Session, place: dict[str, Any], changes: dict[str, Any]
) -> None:
    response = client.post("/api/v1/vms", json=vm_body(place, **changes))
    error_of(response, 422)
    assert session.query(Vm).count() == 0
    assert session.query(Task).filter(Task.target_type == "vm").count() == 0


def test_nothing_fits_is_409_no_valid_host_with_reasons(
    client: TestClient, session: Session, place: dict[str, Any]
) -> None:
    response = client.post(
        "/api/v1/vms", json=vm_body(place, memory_mib=64 * 1024, max_memory_mib=64 * 1024)
    )
    error = error_of(response, 409)
    assert error["code"] == "no_valid_host"
    assert "memory" in error["details"]["hosts"]["node-a"]
    assert session.query(Vm).count() == 0


def test_hosts_fill_up(client: TestClient, session: Session, place: dict[str, Any]) -> None:
    for i in range(3):
        create(client, place, name=f"big-{i}", memory_mib=2048, max_memory_mib=2048)
    response = client.post(
        "/api/v1/vms",
        json=vm_body(place, name="one-too-many", memory_mib=2048, max_memory_mib=2048),
    )
    assert error_of(response, 409)["code"] == "no_valid_host"


def test_duplicate_name_is_409(client: TestClient, place: dict[str, Any]) -> None:
    create(client, place)
    response = client.post("/api/v1/vms", json=vm_body(place))
    assert error_of(response, 409)["code"] == "name_conflict"


def test_second_operation_on_a_busy_vm_is_409_vm_busy(
    client: TestClient, session: Session, place: dict[str, Any]
) -> None:
    vm = create(client, place)["vm"]
    busy = client.post(f"/api/v1/vms/{vm['id']}/actions/start")
    assert error_of(busy, 409)["code"] == "vm_busy"
    settle(session, vm["id"], VmState.STOPPED)
    started = client.post(f"/api/v1/vms/{vm['id']}/actions/start")
    assert started.status_code == 202, started.text
    assert started.json()["vm"]["state"] == "starting"
    again = client.post(f"/api/v1/vms/{vm['id']}/actions/stop", json={"force": True})
    assert error_of(again, 409)["code"] == "vm_busy"


@pytest.mark.parametrize(
    ("state", "action"),
    [
        ("stopped", "pause"),
        ("stopped", "resume"),
        ("stopped", "reboot"),
        ("running", "start"),
        ("paused", "pause"),
        ("running", "resume"),
    ],
)
def test_action_not_allowed_in_state_is_409(
    client: TestClient, session: Session, place: dict[str, Any], state: str, action: str
) -> None:
    vm = create(client, place)["vm"]
    settle(session, vm["id"], VmState(state))
    response = client.post(f"/api/v1/vms/{vm['id']}/actions/{action}")
    error = error_of(response, 409)
    assert error["code"] == "vm_state_conflict"
    assert error["details"]["state"] == state
    assert session.get(Vm, uuid.UUID(vm["id"])).task_state is None  # type: ignore[union-attr]


def test_running_vm_resize_rules(
    client: TestClient, session: Session, place: dict[str, Any]
) -> None:
    vm = create(client, place, vcpus=2, max_vcpus=4)["vm"]
    settle(session, vm["id"], VmState.RUNNING)
    url = f"/api/v1/vms/{vm['id']}/actions/resize"
    assert error_of(client.post(url, json={"vcpus": 8}), 422)["code"] == "resize_above_maximum"
    assert error_of(client.post(url, json={"vcpus": 1}), 409)["code"] == "vm_state_conflict"
    assert error_of(client.post(url, json={"max_vcpus": 8}), 409)["code"] == "vm_state_conflict"
    error_of(client.post(url, json={}), 422)
    accepted = client.post(url, json={"vcpus": 3, "memory_mib": 1024})
    assert accepted.status_code == 202, accepted.text
    assert accepted.json()["task"]["params"]["vcpus"] == 3
    assert accepted.json()["vm"]["vcpus"] == 3


def test_a_resize_claims_its_growth_on_the_host_at_once(
    client: TestClient, session: Session, place: dict[str, Any]
) -> None:
    """8 GiB host, 512 MiB reserved: a stopped VM may grow to 7.5 GiB, not beyond."""
    vm = create(client, place, max_memory_mib=16384)["vm"]
    settle(session, vm["id"], VmState.STOPPED)
    url = f"/api/v1/vms/{vm['id']}/actions/resize"
    error = error_of(client.post(url, json={"memory_mib": 7681}), 409)
    assert error["code"] == "insufficient_capacity"
    assert error["details"]["reason"] == "memory: needs 7169 MiB, 7168 MiB free (overcommit 1.0)"
    stored = session.get(Vm, uuid.UUID(vm["id"]))
    assert stored is not None
    assert (stored.memory_mib, stored.task_state) == (512, None)
    accepted = client.post(url, json={"memory_mib": 7680, "vcpus": 2})
    assert accepted.status_code == 202, accepted.text
    host = session.get(Host, place["host"].id)
    assert host is not None
    session.refresh(host)
    assert (host.placed_vcpus, host.placed_memory_mib) == (2, 7680)
    # A second VM finds the host full: the growth is claimed before the task runs.
    refused = client.post("/api/v1/vms", json=vm_body(place, name="web-2", memory_mib=512))
    assert error_of(refused, 409)["code"] == "no_valid_host"
    cancelled = client.post(f"/api/v1/tasks/{accepted.json()['task']['id']}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    session.refresh(host)
    assert (host.placed_vcpus, host.placed_memory_mib) == (1, 512)
    session.refresh(stored)
    assert (stored.vcpus, stored.memory_mib, stored.state) == (1, 512, VmState.STOPPED)


def test_cancel_a_queued_create_forgets_the_vm(
    client: TestClient, session: Session, place: dict[str, Any]
) -> None:
    body = create(client, place)
    volume_id = uuid.UUID(body["vm"]["disks"][0]["volume_id"])
    cancelled = client.post(f"/api/v1/tasks/{body['task']['id']}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["state"] == "cancelled"
    assert client.get(f"/api/v1/vms/{body['vm']['id']}").status_code == 404
    assert session.get(Volume, volume_id) is None
    again = client.post(f"/api/v1/tasks/{body['task']['id']}/cancel")
    assert error_of(again, 409)["code"] == "task_not_cancellable"


def test_cancel_a_queued_start_puts_the_state_back(
    client: TestClient, session: Session, place: dict[str, Any]
) -> None:
    vm = create(client, place)["vm"]
    settle(session, vm["id"], VmState.STOPPED)
    task = client.post(f"/api/v1/vms/{vm['id']}/actions/start").json()["task"]
    assert client.post(f"/api/v1/tasks/{task['id']}/cancel").status_code == 200
    after = client.get(f"/api/v1/vms/{vm['id']}").json()
    assert after["state"] == "stopped"
    assert after["task_state"] is None


def test_templates_only_clone_or_delete(
    client: TestClient, session: Session, place: dict[str, Any]
) -> None:
    vm = create(client, place)["vm"]
    settle(session, vm["id"], VmState.STOPPED)
    row = session.get(Vm, uuid.UUID(vm["id"]))
    assert row is not None
    row.is_template = True
    session.commit()
    response = client.post(f"/api/v1/vms/{vm['id']}/actions/start")
    assert error_of(response, 409)["code"] == "vm_is_template"


def test_delete_is_202_and_needs_a_stopped_vm(
    client: TestClient, session: Session, place: dict[str, Any]
) -> None:
    vm = create(client, place)["vm"]
    settle(session, vm["id"], VmState.RUNNING)
    assert error_of(client.delete(f"/api/v1/vms/{vm['id']}"), 409)["code"] == "vm_state_conflict"
    settle(session, vm["id"], VmState.STOPPED)
    deleted = client.delete(f"/api/v1/vms/{vm['id']}", params={"delete_volumes": "false"})
    assert deleted.status_code == 202
    assert deleted.json()["task"]["params"]["delete_volumes"] is False
    assert deleted.json()["vm"]["state"] == "deleting"


def test_viewer_cannot_create(
    anon_client: TestClient, make_user: MakeUser, place: dict[str, Any]
) -> None:
    make_user("eyes", "viewer")
    response = anon_client.post(
        "/api/v1/vms", json=vm_body(place), headers=login(anon_client, "eyes")
    )
    assert error_of(response, 403)["code"] == "forbidden"


def test_unknown_vm_is_404(client: TestClient) -> None:
    assert error_of(client.get(f"/api/v1/vms/{uuid.uuid4()}"), 404)
    assert error_of(client.post(f"/api/v1/vms/{uuid.uuid4()}/actions/start"), 404)
    assert error_of(client.delete(f"/api/v1/vms/{uuid.uuid4()}"), 404)


def test_host_row_is_used(place: dict[str, Any]) -> None:
    assert isinstance(place["host"], Host)


def test_pages_of_vms_follow_the_sort_with_disks_and_nics(
    client: TestClient, place: dict[str, Any]
) -> None:
    for name in ("vm-c", "vm-a", "vm-d", "vm-b"):
        create(client, place, name=name)
    page = client.get("/api/v1/vms", params={"sort": "name", "limit": 2, "offset": 1}).json()
    assert page["total"] == 4
    assert [vm["name"] for vm in page["items"]] == ["vm-b", "vm-c"]
    assert all(len(vm["disks"]) == 1 for vm in page["items"])
    newest = client.get("/api/v1/vms", params={"sort": "-created_at", "limit": 1}).json()
    assert [vm["name"] for vm in newest["items"]] == ["vm-b"]
    one = client.get(f"/api/v1/vms/{page['items'][0]['id']}").json()
    assert one == page["items"][0], "a VM reads the same alone and in a page"


def test_patch_changes_only_vrms_own_settings(
    client: TestClient, session: Session, place: dict[str, Any]
) -> None:
    vm = create(client, place)["vm"]
    assert vm["console_exclusive"] is False
    patched = client.patch(
        f"/api/v1/vms/{vm['id']}",
        json={"console_exclusive": True, "ha_enabled": True, "description": "db"},
    )
    assert patched.status_code == 200, patched.text
    assert (patched.json()["console_exclusive"], patched.json()["ha_enabled"]) == (True, True)
    assert client.get(f"/api/v1/vms/{vm['id']}").json()["description"] == "db"
    # Whatever the node would have to change goes through its own operation.
    error_of(client.patch(f"/api/v1/vms/{vm['id']}", json={"vcpus": 4}), 422)
    error_of(client.patch(f"/api/v1/vms/{vm['id']}", json={"ha_enabled": None}), 422)
    assert error_of(client.patch(f"/api/v1/vms/{uuid.uuid4()}", json={}), 404)["code"] == (
        "vm_not_found"
    )
    audit = session.scalars(
        select(AuditRecord.action).where(AuditRecord.target_id == uuid.UUID(vm["id"]))
    ).all()
    assert "vm.update" in audit
