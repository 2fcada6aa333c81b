"""Assertion helpers shared by the API tests."""

from __future__ import annotations

from typing import Any

import httpx2 as httpx
from fastapi.testclient import TestClient


def error_of(response: httpx.Response, status: int | None = None) -> dict[str, Any]:
    """The inside of an error body, checking the one error shape (and the status) on the way."""
    if status is not None:
        assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "details"}, body
    assert isinstance(body["error"]["code"], str)
    assert body["error"]["message"]
    error: dict[str, Any] = body["error"]
    return error


def login(client: TestClient, name: str) -> dict[str, str]:
    """Log ``name`` (password ``<name>-pw-123``) in through the API; its authorization header."""
    response = client.post(
        "/api/v1/auth/token", data={"username": name, "password": f"{name}-pw-123"}
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}
