"""What the benchmarks on real libvirt share: an admin client, one local agent enrolled
on ``qemu:///system``, and the removal of what they leave in libvirt."""

from __future__ import annotations

from pathlib import Path

import httpx
import libvirt

from tests.e2e.processes import ADMIN_PASSWORD, Process, start_agent, wait_until

PREFIX = "ovbench-"


def admin_client(vrm: Process) -> httpx.Client:
    """An httpx client logged in to ``vrm`` as admin (close it when done)."""
    client = httpx.Client(base_url=vrm.url + "/api/v1", timeout=30)
    token = client.post("/auth/token", data={"username": "admin", "password": ADMIN_PASSWORD})
    client.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
    return client


def start_node(work: Path, vrm: Process, admin: httpx.Client, cluster_id: str) -> Process:
    """An agent on ``qemu:///system`` enrolled into ``cluster_id``, once its host is normal;
    its pool and state live below ``work``."""
    token = admin.post("/enrollment-tokens", json={"cluster_id": cluster_id}).json()["token"]
    agent = start_agent(
        work,
        vrm.url,
        token,
        CNA_LIBVIRT_URI="qemu:///system",
        CNA_POOL_DIR=str(work / "pool"),
        CNA_DEFAULT_POOL=f"{PREFIX}{work.name[-6:]}",
        CNA_STATE_DIR=str(work / "state"),
        CNA_HOSTNAME=f"{PREFIX}node",
    )
    wait_until(
        lambda: admin.get("/hosts", params={"state": "normal"}).json()["total"],
        timeout_s=30,
        what="the host",
    )
    return agent


def remove_libvirt_objects() -> None:
    """Destroy and undefine the benchmarks' domains and storage pools."""
    conn = libvirt.open("qemu:///system")
    try:
        for domain in conn.listAllDomains():
            if domain.name().startswith(PREFIX):
                if domain.isActive():
                    domain.destroy()
                domain.undefine()
        for pool in conn.listAllStoragePools():
            if pool.name().startswith(PREFIX):
                if pool.isActive():
                    pool.destroy()
                pool.undefine()
    finally:
        conn.close()
