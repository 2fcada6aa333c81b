"""Whole-system fixtures: an admin HTTP client to a real VRM process."""

from __future__ import annotations

import contextlib
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import libvirt
import pytest

from tests.cna_agent.conftest import PREFIX, TEST_MAC_PREFIX, _cleanup
from tests.e2e.processes import ADMIN_PASSWORD, Process, start_agent, start_vrm, wait_until


@pytest.fixture
def vrm(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Process]:
    """A VRM process; a test's ``vrm_env`` marker adds or overrides settings.

    Hosts turn ``fault`` after 30 s of silence, as in production: a shorter limit would
    make tests that load the machine (many concurrent requests, TCG guests) depend on
    how fast a heartbeat gets through. Tests of fault detection ask for less.
    """
    marker = request.node.get_closest_marker("vrm_env")
    settings = {
        "VRM_HOST_FAULT_AFTER": "30",
        "VRM_JOBS_INTERVAL_S": "0.5",
        # Filtered NICs' plumbing is named after the MAC; the cleanup knows this prefix.
        "VRM_MAC_PREFIX": TEST_MAC_PREFIX,
        **(marker.kwargs if marker is not None else {}),
    }
    proc = start_vrm(tmp_path, **settings)
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
def admin(vrm: Process) -> Iterator[httpx.Client]:
    """An httpx client logged in to ``vrm`` as admin."""
    with logged_in(vrm) as client:
        yield client


@pytest.fixture
def node(tmp_path: Path, vrm: Process, admin: httpx.Client) -> Iterator[dict[str, Any]]:
    """A cluster with one enrolled agent on qemu:///system, and a VLAN port group."""
    with enrolled_node(tmp_path, vrm, admin) as lab:
        yield lab


@contextlib.contextmanager
def logged_in(vrm: Process) -> Iterator[httpx.Client]:
    """An httpx client logged in to ``vrm`` as admin."""
    with httpx.Client(base_url=vrm.url + "/api/v1", timeout=30) as client:
        token = client.post("/auth/token", data={"username": "admin", "password": ADMIN_PASSWORD})
        assert token.status_code == 200, token.text
        client.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
        yield client


@contextlib.contextmanager
def enrolled_node(
    workdir: Path, vrm: Process, admin: httpx.Client, **agent_settings: str
) -> Iterator[dict[str, Any]]:
    """A cluster with one agent on qemu:///system enrolled into ``vrm``, a DVS and a VLAN
    port group; everything is removed afterwards."""
    pool_dir = Path("/var/tmp") / f"{PREFIX}{uuid.uuid4().hex[:8]}"
    # The agent's state (cloud-init seeds among it) where QEMU, another user, can read.
    state_dir = pool_dir.with_name(pool_dir.name + "-state")
    for folder in (pool_dir, state_dir):
        folder.mkdir(mode=0o755)
        folder.chmod(0o755)
    cluster = admin.post("/clusters", json={"name": "e2e"}).json()
    token = admin.post("/enrollment-tokens", json={"cluster_id": cluster["id"]}).json()["token"]
    agent = start_agent(
        workdir,
        vrm.url,
        token,
        CNA_LIBVIRT_URI="qemu:///system",
        CNA_HEARTBEAT_S="1",
        CNA_POOL_DIR=str(pool_dir),
        CNA_DEFAULT_POOL=f"{PREFIX}pool-{pool_dir.name[-8:]}",
        CNA_HOSTNAME=f"{PREFIX}node",
        CNA_STATE_DIR=str(state_dir),
        **agent_settings,
    )
    try:
        wait_until(
            lambda: admin.get("/hosts", params={"state": "normal"}).json()["total"],
            timeout_s=30,
            what="the host to be normal",
        )
        dvs = admin.post(
            "/dvs", json={"name": "e2e-dvs", "bridge": f"ovt{uuid.uuid4().hex[:8]}"}
        ).json()
        group = admin.post(
            "/port-groups", json={"name": "v100", "dvs_id": dvs["id"], "vlan_id": 100}
        ).json()
        yield {
            "cluster": cluster["id"],
            "group": group["id"],
            "dvs": dvs,
            "agent": agent,
            "pool": f"{PREFIX}pool-{pool_dir.name[-8:]}",
            "pool_dir": pool_dir,
            "workdir": workdir,
        }
    finally:
        agent.stop()
        conn = libvirt.open("qemu:///system")
        try:
            _cleanup(conn)
        finally:
            conn.close()
        shutil.rmtree(pool_dir, ignore_errors=True)
        shutil.rmtree(state_dir, ignore_errors=True)
