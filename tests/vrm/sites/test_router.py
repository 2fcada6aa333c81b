"""The sites API (read only), on both database backends."""

from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient

from tests.conftest import MakeUser
from tests.helpers import error_of, login
from vrm.sites.repository import DEFAULT_SITE_ID


def test_default_site_is_listed_and_readable(client: TestClient) -> None:
    page = client.get("/api/v1/sites").json()
    assert page["total"] == 1
    assert page["items"][0]["id"] == str(DEFAULT_SITE_ID)
    got = client.get(f"/api/v1/sites/{DEFAULT_SITE_ID}")
    assert got.status_code == 200
    assert got.json() == page["items"][0]
    assert set(got.json()) == {"id", "name", "description", "created_at", "updated_at"}


def test_filter_and_sort(client: TestClient) -> None:
    assert client.get("/api/v1/sites", params={"name": "default"}).json()["total"] == 1
    assert client.get("/api/v1/sites", params={"name": "nowhere"}).json() == {
        "items": [],
        "total": 0,
    }
    assert client.get("/api/v1/sites", params={"sort": "-name"}).status_code == 200


@pytest.mark.parametrize(
    "params", [{"sort": "description"}, {"name": "a\x00b"}, {"name": "x" * 256}, {"limit": 0}]
)
def test_bad_list_params_are_422(client: TestClient, params: dict[str, object]) -> None:
    error_of(client.get("/api/v1/sites", params=params), 422)


def test_unknown_and_malformed_ids_are_404(client: TestClient) -> None:
    assert error_of(client.get(f"/api/v1/sites/{uuid.uuid4()}"), 404)["code"] == "site_not_found"
    assert error_of(client.get("/api/v1/sites/default"), 404)["code"] == "not_found"


def test_no_write_endpoints(client: TestClient) -> None:
    assert error_of(client.post("/api/v1/sites", json={"name": "x"}), 405)
    assert error_of(client.delete(f"/api/v1/sites/{DEFAULT_SITE_ID}"), 405)


def test_viewer_can_read_and_anonymous_cannot(anon_client: TestClient, make_user: MakeUser) -> None:
    assert error_of(anon_client.get("/api/v1/sites"), 401)["code"] == "not_authenticated"
    make_user("watcher", "viewer")
    headers = login(anon_client, "watcher")
    assert anon_client.get("/api/v1/sites", headers=headers).json()["total"] == 1
