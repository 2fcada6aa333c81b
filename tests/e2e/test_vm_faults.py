"""Faults during VM operations: an agent that fails a step, a VRM killed mid-task."""

from __future__ import annotations

import signal
from typing import Any

import httpx
import libvirt
import pytest

from tests.cna_agent.conftest import PREFIX
from tests.e2e.processes import ADMIN_PASSWORD, Process, start_vrm, wait_until
from tests.e2e.vmlab import run, wait_task


def vm_body(node: dict[str, Any], name: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "cluster_id": node["cluster"],
        "vcpus": 1,
        "memory_mib": 128,
        "disks": [{"size_mib": 32}],
        "nics": [{"port_group_id": node["group"]}],
        **extra,
    }


def test_a_step_the_agent_refuses_fails_the_task_and_leaves_nothing(
    admin: httpx.Client, node: dict[str, Any]
) -> None:
    conn = libvirt.open("qemu:///system")
    try:
        # The datastore's pool disappears behind VRM's back.
        pool = conn.storagePoolLookupByName(node["pool"])
        pool.destroy()
        pool.undefine()
        created = admin.post("/vms", json=vm_body(node, f"{PREFIX}doomed"))
        vm = created.json()["vm"]
        task = run(admin, created)
        assert task["state"] == "failed"
        assert task["error_code"] == "pool_not_found"
        assert task["error_message"]
        assert admin.get(f"/vms/{vm['id']}").status_code == 404, "a failed create is undone"
        assert admin.get("/volumes").json()["total"] == 0
        with pytest.raises(libvirt.libvirtError):
            conn.lookupByUUIDString(vm["uuid"])
        events = admin.get("/events", params={"type": "task_failed"}).json()["items"]
        assert [e["task_id"] for e in events] == [task["id"]]
    finally:
        conn.close()


def test_vrm_killed_mid_create_finishes_the_task_once(
    vrm: Process, admin: httpx.Client, node: dict[str, Any]
) -> None:
    agent: Process = node["agent"]
    agent.popen.send_signal(signal.SIGSTOP)  # its API now hangs: the create stalls mid-step
    restarted: Process | None = None
    try:
        created = admin.post("/vms", json=vm_body(node, f"{PREFIX}survivor"))
        assert created.status_code == 202, created.text
        vm, task_id = created.json()["vm"], created.json()["task"]["id"]
        wait_until(
            lambda: admin.get(f"/tasks/{task_id}").json()["state"] == "running",
            timeout_s=30,
            what="the create task to start",
        )
        vrm.kill()
        agent.popen.send_signal(signal.SIGCONT)
        port = int(vrm.url.rsplit(":", 1)[1])
        restarted = start_vrm(
            node["workdir"], port=port, VRM_TASK_STALE_AFTER_S="2", VRM_HOST_FAULT_AFTER="30"
        )
        with httpx.Client(base_url=restarted.url + "/api/v1", timeout=30) as client:
            login = client.post(
                "/auth/token", data={"username": "admin", "password": ADMIN_PASSWORD}
            )
            client.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
            task = wait_task(client, task_id)
            assert task["state"] == "succeeded", task
            tasks = client.get("/tasks", params={"target_id": vm["id"]}).json()
            assert tasks["total"] == 1
            assert client.get(f"/vms/{vm['id']}").json()["state"] == "stopped"
        _assert_one_domain_and_only_its_volume(vm, node["pool"])
    finally:
        agent.popen.send_signal(signal.SIGCONT)
        if restarted is not None:
            restarted.stop()


def _assert_one_domain_and_only_its_volume(vm: dict[str, Any], pool_name: str) -> None:
    conn = libvirt.open("qemu:///system")
    try:
        named = [d for d in conn.listAllDomains() if d.UUIDString() == vm["uuid"]]
        assert len(named) == 1
        volumes = conn.storagePoolLookupByName(pool_name).listVolumes()
        assert volumes == [f"vm-{vm['uuid'].replace('-', '')[:12]}-vda"], volumes
    finally:
        conn.close()
