"""Liveness, readiness, the public documents, and that the rest of /api/v1 needs a token."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.conftest import MakeUser
from tests.helpers import error_of
from vrm.app import API_PREFIX, create_app
from vrm.auth import security
from vrm.auth.repository import TokenRepository
from vrm.config import Settings
from vrm.db import make_engine
from vrm.migrate import head_revision
from vrm.models import ApiToken
from vrm.models.base import utcnow
from vrm.models.enums import TokenKind

# The only /api/v1 routes a caller without a token may use. Adding one is a security decision.
PUBLIC_API = {f"{API_PREFIX}/auth/token", f"{API_PREFIX}/openapi.json"}
UNREACHABLE_URL = "postgresql+psycopg://postgres@127.0.0.1:1/x?connect_timeout=2"
PATH_PARAM = re.compile(r"\{([^}:]+)(?::[^}]*)?\}")


def _standalone_client(url: str) -> Iterator[TestClient]:
    """A client for an app over its own engine on ``url``, disposed afterwards."""
    engine = make_engine(url)
    try:
        app = create_app(Settings(database_url=url), engine, background_jobs=False)
        with TestClient(app, raise_server_exceptions=False) as client:
            yield client
    finally:
        engine.dispose()


@pytest.fixture
def empty_db_client(tmp_path: Path) -> Iterator[TestClient]:
    """An app over a fresh SQLite database that was never migrated."""
    yield from _standalone_client(f"sqlite:///{tmp_path / 'empty.db'}")


@pytest.fixture
def unreachable_db_client() -> Iterator[TestClient]:
    """An app whose database URL points at a closed port."""
    yield from _standalone_client(UNREACHABLE_URL)


def test_healthz(anon_client: TestClient) -> None:
    response = anon_client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_on_a_migrated_database(anon_client: TestClient) -> None:
    response = anon_client.get("/readyz")
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "ready", "database": {"revision": head_revision()}}


def test_readyz_on_an_unmigrated_database(empty_db_client: TestClient) -> None:
    error = error_of(empty_db_client.get("/readyz"), 503)
    assert error["code"] == "database_not_migrated"
    assert error["details"] == {"revision": None, "head": head_revision()}
    assert "vrm db upgrade" in error["message"]
    assert empty_db_client.get("/healthz").status_code == 200


def test_readyz_on_an_unreachable_database(unreachable_db_client: TestClient) -> None:
    started = time.monotonic()
    error = error_of(unreachable_db_client.get("/readyz"), 503)
    assert time.monotonic() - started < 10
    assert error["code"] == "database_unreachable"
    assert error["details"]["error"] == "OperationalError"
    assert unreachable_db_client.get("/healthz").status_code == 200


def test_openapi_is_public_and_lists_the_api(anon_client: TestClient) -> None:
    response = anon_client.get(f"{API_PREFIX}/openapi.json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert f"{API_PREFIX}/clusters" in paths
    assert f"{API_PREFIX}/auth/token" in paths


def test_api_docs_are_public(anon_client: TestClient) -> None:
    response = anon_client.get("/api/docs")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert f"{API_PREFIX}/openapi.json" in response.text


def _api_operations(app: FastAPI) -> list[tuple[str, str]]:
    """Every (method, concrete path) under /api/v1 except the public ones; ids are fresh UUIDs."""
    operations = []
    for route in iter_route_contexts(app.routes):
        path = route.path_format or route.path or ""
        if not path.startswith(f"{API_PREFIX}/") or path in PUBLIC_API:
            continue
        concrete = PATH_PARAM.sub(lambda _m: str(uuid.uuid4()), path)
        operations += [(m, concrete) for m in sorted((route.methods or set()) - {"HEAD"})]
    return operations


def test_every_api_route_needs_a_token(app: FastAPI, anon_client: TestClient) -> None:
    operations = _api_operations(app)
    assert ("GET", f"{API_PREFIX}/clusters") in operations
    assert ("POST", f"{API_PREFIX}/clusters") in operations
    assert any(m == "DELETE" for m, _ in operations)
    for method, path in operations:
        response = anon_client.request(method, path)
        error = error_of(response)
        assert response.status_code == 401, f"{method} {path}: {response.status_code}"
        assert error["code"] == "not_authenticated", f"{method} {path}"
        assert response.headers["www-authenticate"] == "Bearer"


def test_wrong_password_is_invalid_credentials(
    anon_client: TestClient, make_user: MakeUser
) -> None:
    make_user("carol", "viewer")
    right = anon_client.post(
        f"{API_PREFIX}/auth/token", data={"username": "carol", "password": "carol-pw-123"}
    )
    assert right.status_code == 200, right.text
    for name, password in (("carol", "carol-pw-124"), ("nobody", "carol-pw-123")):
        response = anon_client.post(
            f"{API_PREFIX}/auth/token", data={"username": name, "password": password}
        )
        assert error_of(response, 401)["code"] == "invalid_credentials"


def test_garbage_token_is_invalid(anon_client: TestClient) -> None:
    response = anon_client.get(
        f"{API_PREFIX}/clusters", headers={"Authorization": "Bearer not-a-token"}
    )
    assert error_of(response, 401)["code"] == "invalid_token"


def _stored_token(session: Session, user_id: uuid.UUID, *, expires_in: timedelta) -> str:
    """A login token for ``user_id`` stored directly, expiring ``expires_in`` from now."""
    token = security.new_token("vrm")
    TokenRepository(session).add(
        ApiToken(
            user_id=user_id,
            kind=TokenKind.LOGIN,
            token_hash=security.hash_token(token),
            expires_at=utcnow() + expires_in,
        ),
        conflict="token collision",
    )
    return token


def test_expired_token_is_refused(
    anon_client: TestClient, make_user: MakeUser, session: Session
) -> None:
    user = make_user("dave", "viewer")
    valid = _stored_token(session, user.user_id, expires_in=timedelta(minutes=5))
    expired = _stored_token(session, user.user_id, expires_in=-timedelta(seconds=1))
    url = f"{API_PREFIX}/clusters"
    assert anon_client.get(url, headers={"Authorization": f"Bearer {valid}"}).status_code == 200
    response = anon_client.get(url, headers={"Authorization": f"Bearer {expired}"})
    assert error_of(response, 401)["code"] == "invalid_token"
