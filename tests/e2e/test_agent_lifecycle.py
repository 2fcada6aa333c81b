"""VRM and a real cna-agent on qemu:///system: enrollment, heartbeats, fault and recovery."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import libvirt
import pytest

from tests.cna_agent.conftest import PREFIX, _cleanup
from tests.e2e.processes import SECRET, Process, start_agent, wait_until
from vrm.agents.client import AgentClient, AgentRejected
from vrm.agents.credentials import vrm_credential


@pytest.fixture
def libvirt_cleanup() -> Iterator[None]:
    yield
    conn = libvirt.open("qemu:///system")
    try:
        _cleanup(conn)
    finally:
        conn.close()


def host_state(admin: httpx.Client, host_id: str) -> str:
    state: str = admin.get(f"/hosts/{host_id}").json()["state"]
    return state


def event_types(admin: httpx.Client, host_id: str) -> list[str]:
    page = admin.get("/events", params={"target_id": host_id, "limit": 100}).json()
    return [e["type"] for e in page["items"]]


@pytest.mark.vrm_env(VRM_HOST_FAULT_AFTER="3")
def test_enroll_heartbeat_fault_and_recovery(
    tmp_path: Path, vrm: Process, admin: httpx.Client, libvirt_cleanup: None
) -> None:
    cluster = admin.post("/clusters", json={"name": "e2e"}).json()
    token = admin.post("/enrollment-tokens", json={"cluster_id": cluster["id"]}).json()["token"]
    node = {
        "CNA_LIBVIRT_URI": "qemu:///system",
        "CNA_HEARTBEAT_S": "0.5",
        "CNA_DEFAULT_POOL": f"{PREFIX}pool-{uuid.uuid4().hex[:6]}",
        "CNA_HOSTNAME": f"{PREFIX}node",
    }
    agent = start_agent(tmp_path, vrm.url, token, **node)
    try:
        hosts = wait_until(
            lambda: admin.get("/hosts", params={"state": "normal"}).json()["items"],
            timeout_s=30,
            what="the host to become normal",
        )
        host = hosts[0]
        assert host["name"] == f"{PREFIX}node"
        assert host["cluster_id"] == cluster["id"]
        assert host["cpu_mhz"] > 0
        assert host["memory_mib"] > 0
        assert host["cpu_cores"] > 0
        assert host["hw_virt"] is False, "no usable KVM on this machine: TCG"
        stores = admin.get("/datastores").json()["items"]
        assert [s["capacity_mib"] > 0 for s in stores] == [True]

        # VRM -> agent, with the credential VRM derives for this host.
        credential = vrm_credential(SECRET, uuid.UUID(host["id"]))
        with AgentClient(agent.url, credential) as good:
            assert good.facts().hostname == f"{PREFIX}node"
        with AgentClient(agent.url, "cnav_wrong") as bad, pytest.raises(AgentRejected) as refused:
            bad.facts()
        assert refused.value.status == 401

        before = host["last_heartbeat_at"]
        wait_until(
            lambda: admin.get(f"/hosts/{host['id']}").json()["last_heartbeat_at"] != before,
            timeout_s=15,
            what="another heartbeat",
        )

        agent.kill()
        wait_until(
            lambda: host_state(admin, host["id"]) == "fault",
            timeout_s=30,
            what="the host to be marked fault",
        )
        assert "host_fault" in event_types(admin, host["id"])

        agent = start_agent(tmp_path, vrm.url, None, **node, port=agent.url.rsplit(":", 1)[1])
        wait_until(
            lambda: host_state(admin, host["id"]) == "normal",
            timeout_s=30,
            what="the host to recover",
        )
        assert "host_recovered" in event_types(admin, host["id"])
        assert admin.get("/hosts").json()["total"] == 1, "a restart reuses the identity"
    finally:
        agent.stop()
