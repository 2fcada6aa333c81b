"""Maintenance mode between two real lab hosts: the plan, the evacuation, a blocker."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.vmlab import wait_task
from tests.migration.lab import Lab
from tests.migration.test_live import where


@pytest.fixture
def crowded(lab: Lab) -> Iterator[tuple[int, list[dict[str, Any]]]]:
    """Three VMs on one host, one of them stopped; removed afterwards."""
    first = lab.make_vm("mnt-a")
    index = lab.host_index(first["host_id"])
    host_id = lab.host_ids[index]
    made = [
        first,
        lab.make_vm("mnt-b", host_id=host_id),
        lab.make_vm("mnt-c", host_id=host_id, power_on=False),
    ]
    yield index, made
    for vm in made:
        lab.remove_vm(vm["id"])
    lab.admin.post(f"/hosts/{host_id}/actions/exit-maintenance")


def enter(lab: Lab, host_id: str, **body: Any) -> dict[str, Any]:
    answer = lab.admin.post(f"/hosts/{host_id}/actions/enter-maintenance", json=body)
    assert answer.status_code in (200, 202), answer.text
    result: dict[str, Any] = answer.json()
    return result


def host_state(lab: Lab, host_id: str) -> str:
    state: str = lab.admin.get(f"/hosts/{host_id}").json()["state"]
    return state


def test_a_host_is_emptied_then_takes_no_vms_until_it_leaves_maintenance(
    lab: Lab, crowded: tuple[int, list[dict[str, Any]]]
) -> None:
    index, vms = crowded
    host_id, other = lab.host_ids[index], lab.host_ids[1 - index]
    started = time.monotonic()
    plan = enter(lab, host_id, dry_run=True)
    assert time.monotonic() - started < 30  # the target (5 s) is measured in bench/
    assert plan["movable"] is True
    assert sorted((m["name"], m["action"], m["target_host_id"]) for m in plan["vms"]) == [
        ("ovrmlab-mnt-a", "live", other),
        ("ovrmlab-mnt-b", "live", other),
        ("ovrmlab-mnt-c", "cold", other),
    ]
    assert host_state(lab, host_id) == "normal", "a dry run changes nothing"

    task = wait_task(lab.admin, enter(lab, host_id)["task"]["id"])
    assert task["state"] == "succeeded", task
    assert sorted(o["state"] for o in task["result"]["vms"].values()) == ["moved"] * 3
    assert host_state(lab, host_id) == "maintenance"
    for vm in vms:
        after = lab.admin.get(f"/vms/{vm['id']}").json()
        assert after["host_id"] == other
        assert list(where(lab, vm["uuid"])) == [1 - index]
    # No placement on a host in maintenance, even when asked for.
    refused = lab.admin.post("/vms", json=lab.vm_body("mnt-refused", host_id=host_id))
    assert refused.status_code == 409, refused.text
    assert "maintenance" in refused.text
    again = lab.admin.post(f"/hosts/{host_id}/actions/enter-maintenance", json={})
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "host_state_conflict"

    back = lab.admin.post(f"/hosts/{host_id}/actions/exit-maintenance")
    assert back.status_code == 200, back.text
    assert back.json()["state"] == "normal"


def test_an_unmovable_vm_fails_the_evacuation_and_the_host_returns_to_service(
    lab: Lab, crowded: tuple[int, list[dict[str, Any]]]
) -> None:
    index, vms = crowded
    host_id = lab.host_ids[index]
    paused = vms[1]
    pause = lab.admin.post(f"/vms/{paused['id']}/actions/pause")
    assert wait_task(lab.admin, pause.json()["task"]["id"])["state"] == "succeeded"

    plan = enter(lab, host_id, dry_run=True)
    assert plan["movable"] is False
    [blocked] = [m for m in plan["vms"] if m["blocker"]]
    assert blocked["name"] == paused["name"]
    assert blocked["blocker"]["code"] == "vm_state_conflict"

    task = wait_task(lab.admin, enter(lab, host_id)["task"]["id"])
    assert task["state"] == "failed", task
    assert task["error_code"] == "maintenance_blocked"
    assert paused["name"] in task["error_message"]
    outcomes = {o["name"]: o["state"] for o in task["result"]["vms"].values()}
    assert outcomes[paused["name"]] == "failed"
    assert host_state(lab, host_id) == "normal"
    assert list(where(lab, paused["uuid"])) == [index], "the paused VM stayed where it was"
