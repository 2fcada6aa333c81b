"""Whole-system fixtures: an admin HTTP client to a real VRM process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.processes import ADMIN_PASSWORD, Process, start_vrm


@pytest.fixture
def vrm(tmp_path: Path) -> Iterator[Process]:
    """A VRM process with fast liveness settings (fault after 3 s)."""
    proc = start_vrm(tmp_path, VRM_HOST_FAULT_AFTER="3", VRM_JOBS_INTERVAL_S="0.5")
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
def admin(vrm: Process) -> Iterator[httpx.Client]:
    """An httpx client logged in to ``vrm`` as admin."""
    with httpx.Client(base_url=vrm.url + "/api/v1", timeout=30) as client:
        token = client.post("/auth/token", data={"username": "admin", "password": ADMIN_PASSWORD})
        assert token.status_code == 200, token.text
        client.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
        yield client
