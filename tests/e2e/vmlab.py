"""A lab for VM tests: a real agent on qemu:///system enrolled into a real VRM."""

from __future__ import annotations

from typing import Any

import httpx
import libvirt

from tests.e2e.processes import wait_until


def run(admin: httpx.Client, response: httpx.Response) -> dict[str, Any]:
    """Wait for the task a 202 answer started; return the task as it ended."""
    assert response.status_code == 202, response.text
    return wait_task(admin, response.json()["task"]["id"])


def wait_task(client: httpx.Client, task_id: str) -> dict[str, Any]:
    """Wait until task ``task_id`` has ended; return it."""

    def ended() -> dict[str, Any] | None:
        response = client.get(f"/tasks/{task_id}")
        assert response.status_code == 200, response.text
        task: dict[str, Any] = response.json()
        return task if task["state"] not in ("queued", "running") else None

    return wait_until(ended, timeout_s=90, what=f"task {task_id}")


def domain(vm_uuid: str) -> libvirt.virDomain:
    conn = libvirt.open("qemu:///system")
    return conn.lookupByUUIDString(vm_uuid)
