"""Fifty VMs asked for at once on two hosts: none overbooked, the rest told why."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import libvirt
import pytest

from tests.cna_agent.conftest import PREFIX
from tests.e2e.processes import Process, start_agent, wait_until
from tests.e2e.vmlab import run

VM_MIB = 4096


@pytest.fixture
def second_node(
    tmp_path: Path, vrm: Process, admin: httpx.Client, node: dict[str, Any]
) -> Iterator[Process]:
    """Another agent on this machine, enrolled into the same cluster."""
    token = admin.post("/enrollment-tokens", json={"cluster_id": node["cluster"]}).json()["token"]
    workdir = tmp_path / "second"
    workdir.mkdir()
    agent = start_agent(
        workdir,
        vrm.url,
        token,
        CNA_LIBVIRT_URI="qemu:///system",
        CNA_HEARTBEAT_S="1",
        CNA_POOL_DIR=str(workdir / "pool"),
        CNA_DEFAULT_POOL=f"{PREFIX}pool2-{uuid.uuid4().hex[:6]}",
        CNA_HOSTNAME=f"{PREFIX}node2",
    )
    try:
        wait_until(
            lambda: admin.get("/hosts", params={"state": "normal"}).json()["total"] == 2,
            timeout_s=30,
            what="two normal hosts",
        )
        yield agent
    finally:
        agent.stop()


def test_concurrent_creates_never_overbook(
    vrm: Process, admin: httpx.Client, node: dict[str, Any], second_node: Process
) -> None:
    # Memory, not the two CPUs of this machine, is what runs out.
    patched = admin.patch(f"/clusters/{node['cluster']}", json={"cpu_overcommit": 16})
    assert patched.status_code == 200, patched.text
    token = admin.headers["Authorization"]

    def create(i: int) -> httpx.Response:
        with httpx.Client(
            base_url=vrm.url + "/api/v1", timeout=60, headers={"Authorization": token}
        ) as client:
            body = {
                "name": f"{PREFIX}crowd-{i}",
                "cluster_id": node["cluster"],
                "vcpus": 1,
                "memory_mib": VM_MIB,
            }
            return client.post("/vms", json=body)

    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(create, range(50)))
    accepted = [a for a in answers if a.status_code == 202]
    refused = [a for a in answers if a.status_code == 409]
    assert len(accepted) + len(refused) == 50, [a.text for a in answers]
    assert accepted, "some VMs fit"
    assert refused, "fifty 4 GiB VMs do not fit on two hosts"
    for answer in refused:
        error = answer.json()["error"]
        assert error["code"] == "no_valid_host"
        assert set(error["details"]["hosts"]) == {f"{PREFIX}node", f"{PREFIX}node2"}
        reasons = error["details"]["hosts"].values()
        assert all("memory" in reason for reason in reasons), reasons

    hosts = {h["id"]: h for h in admin.get("/hosts").json()["items"]}
    placed: dict[str, int] = {}
    for answer in accepted:
        vm = answer.json()["vm"]
        placed[vm["host_id"]] = placed.get(vm["host_id"], 0) + vm["memory_mib"]
    for host_id, used in placed.items():
        assert used <= hosts[host_id]["memory_mib"], f"host {host_id} overbooked: {used} MiB"
    assert len(placed) == 2, "spread over both hosts"

    for answer in accepted:
        task = run_task(admin, answer)
        assert task["state"] == "succeeded", task
    conn = libvirt.open("qemu:///system")
    try:
        uuids = {d.UUIDString() for d in conn.listAllDomains()}
    finally:
        conn.close()
    assert {a.json()["vm"]["uuid"] for a in accepted} <= uuids


def run_task(admin: httpx.Client, answer: httpx.Response) -> dict[str, Any]:
    return run(admin, answer)
