"""The front page: public, with the version, the migration and live inventory counts."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.factories import add_host, add_vm
from vrm import __version__
from vrm.app import create_app
from vrm.config import Settings
from vrm.db import make_engine
from vrm.migrate import head_revision


def _counts(html: str) -> dict[str, int]:
    """The inventory counts shown on the page."""
    found = dict(re.findall(r'id="count-(\w+)">(\d+)<', html))
    assert set(found) == {"clusters", "hosts", "vms"}, html
    return {name: int(value) for name, value in found.items()}


def _front_page(client: TestClient) -> str:
    response = client.get("/")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    return response.text


def test_front_page_is_public_and_shows_version_and_migration(anon_client: TestClient) -> None:
    html = _front_page(anon_client)
    assert f"v{__version__}" in html
    revision = re.search(r'id="revision">([^<]*)<', html)
    assert revision, html
    assert revision[1].startswith(f"{head_revision()} ")
    assert '<span class="good">ready</span>' in html
    assert 'href="/api/docs"' in html


def test_counts_follow_the_inventory(
    anon_client: TestClient, client: TestClient, session: Session
) -> None:
    assert _counts(_front_page(anon_client)) == {"clusters": 0, "hosts": 0, "vms": 0}
    created = client.post("/api/v1/clusters", json={"name": "front"})
    assert created.status_code == 201, created.text
    assert _counts(_front_page(anon_client)) == {"clusters": 1, "hosts": 0, "vms": 0}
    cluster_id = uuid.UUID(created.json()["id"])
    add_host(session, cluster_id)
    add_vm(session, cluster_id)
    add_vm(session, cluster_id)
    assert _counts(_front_page(anon_client)) == {"clusters": 1, "hosts": 1, "vms": 2}


def test_the_stylesheet_loads(anon_client: TestClient) -> None:
    link = re.search(r'<link rel="stylesheet" href="([^"]+)"', _front_page(anon_client))
    assert link, "the page links no stylesheet"
    assert "/static/" in link[1]
    response = anon_client.get(link[1])
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/css")
    assert "{" in response.text


@pytest.fixture
def unmigrated_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """An app over a SQLite database that was never migrated."""
    url = f"sqlite:///{tmp_path_factory.mktemp('empty') / 'vrm.db'}"
    engine = make_engine(url)
    try:
        app = create_app(Settings(database_url=url), engine, background_jobs=False)
        with TestClient(app) as client:
            yield client
    finally:
        engine.dispose()


def test_front_page_without_a_schema_says_to_migrate(unmigrated_client: TestClient) -> None:
    html = _front_page(unmigrated_client)
    assert "needs migration" in html
    assert "vrm db upgrade" in html
    assert 'id="count-clusters"' not in html
