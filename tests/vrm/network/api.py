"""Creating network objects through the API, for tests that need them as a setting."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient


def _created(client: TestClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(path, json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def make_dvs(client: TestClient, name: str = "dvs0", **fields: Any) -> dict[str, Any]:
    """A DVS created through the API."""
    return _created(client, "/api/v1/dvs", {"name": name, **fields})


def make_port_group(
    client: TestClient, dvs_id: str | None = None, name: str = "pg0", **fields: Any
) -> dict[str, Any]:
    """A port group created through the API (on a new DVS unless ``dvs_id`` is given)."""
    dvs = dvs_id or make_dvs(client, name=f"dvs-for-{name}")["id"]
    return _created(client, "/api/v1/port-groups", {"dvs_id": dvs, "name": name, **fields})


def make_pool(
    client: TestClient,
    port_group_id: str,
    name: str = "pool0",
    cidr: str = "10.0.0.0/24",
    **fields: Any,
) -> dict[str, Any]:
    """An IP pool created through the API."""
    body = {"name": name, "port_group_id": port_group_id, "cidr": cidr, **fields}
    return _created(client, "/api/v1/ip-pools", body)
