"""Fixtures of the VM API tests."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.factories import add_datastore, add_host, link_host_datastore
from tests.vrm.network.api import make_port_group


@pytest.fixture
def place(client: TestClient, session: Session) -> dict[str, Any]:
    """A cluster with one 4-thread, 8 GiB host reaching a 100 GiB datastore; a port group."""
    cluster = client.post("/api/v1/clusters", json={"name": "c1"}).json()
    host = add_host(session, uuid.UUID(cluster["id"]), name="node-a")
    host.cpu_cores, host.cpu_threads, host.memory_mib = 4, 1, 8192
    store = add_datastore(session, name="local-a")
    store.capacity_mib = 100 * 1024
    link_host_datastore(session, host.id, store.id)
    group = make_port_group(client, name="pg100", vlan_id=100)
    return {"cluster": cluster["id"], "host": host, "store": store, "group": group["id"]}
