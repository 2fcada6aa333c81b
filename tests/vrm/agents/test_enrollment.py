"""Enrollment tokens and agent enrollment through the API, on both backends."""

from __future__ import annotations

import uuid
from datetime import timedelta

import httpx2 as httpx
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.conftest import MakeUser
from tests.helpers import error_of, login
from tests.vrm.agents.wire import enroll_request
from vrm.auth.security import hash_token
from vrm.models import Datastore, EnrollmentToken, Host, HostDatastore
from vrm.models.base import utcnow


def new_token(client: TestClient, **extra: object) -> dict[str, str]:
    """A cluster and an enrollment token for it."""
    cluster = client.post("/api/v1/clusters", json={"name": "c1"}).json()
    response = client.post("/api/v1/enrollment-tokens", json={"cluster_id": cluster["id"], **extra})
    assert response.status_code == 201, response.text
    body: dict[str, str] = response.json()
    return body


def enroll(
    client: TestClient, token: str, hostname: str = "node-1", port: int = 7070
) -> httpx.Response:
    body = enroll_request(hostname, port).model_dump(mode="json")
    return client.post(
        "/api/v1/agents/enroll", json=body, headers={"Authorization": f"Bearer {token}"}
    )


def test_token_is_shown_once_and_stored_hashed(client: TestClient, session: Session) -> None:
    issued = new_token(client)
    assert issued["token"].startswith("enroll_")
    row = session.get(EnrollmentToken, uuid.UUID(issued["id"]))
    assert row is not None
    assert row.token_hash == hash_token(issued["token"])
    listed = client.get("/api/v1/enrollment-tokens").json()
    assert listed["total"] == 1
    assert "token" not in listed["items"][0]


def test_enroll_creates_connecting_host_with_datastore(
    client: TestClient, session: Session
) -> None:
    issued = new_token(client)
    response = enroll(client, issued["token"])
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["host_credential"].startswith("cnah_")
    assert body["vrm_credential"].startswith("cnav_")
    host = session.get(Host, uuid.UUID(body["host_id"]))
    assert host is not None
    assert host.state == "connecting"
    assert host.cpu_mhz == 2400
    assert host.memory_mib == 8192
    assert host.credential_hash == hash_token(body["host_credential"])
    assert str(host.cluster_id) == issued["cluster_id"]
    store_id = body["datastores"]["default"]
    store = session.get(Datastore, uuid.UUID(store_id))
    assert store is not None
    assert store.capacity_mib == 100_000
    assert session.get(HostDatastore, (host.id, store.id)) is not None


def test_reused_token_is_409_and_creates_nothing(client: TestClient, session: Session) -> None:
    issued = new_token(client)
    assert enroll(client, issued["token"]).status_code == 201
    again = enroll(client, issued["token"], hostname="node-2", port=7071)
    assert error_of(again, 409)["code"] == "enrollment_token_used"
    assert session.query(Host).count() == 1


def test_unknown_missing_and_expired_tokens_are_401(client: TestClient, session: Session) -> None:
    issued = new_token(client)
    row = session.get(EnrollmentToken, uuid.UUID(issued["id"]))
    assert row is not None
    row.expires_at = utcnow() - timedelta(seconds=1)
    session.commit()
    expired = enroll(client, issued["token"])
    assert error_of(expired, 401)["code"] == "enrollment_token_expired"
    unknown = enroll(client, "enroll_not-a-real-token")
    assert error_of(unknown, 401)["code"] == "invalid_enrollment_token"
    body = enroll_request().model_dump(mode="json")
    missing = client.post("/api/v1/agents/enroll", json=body, headers={"Authorization": ""})
    assert missing.status_code == 401
    assert session.query(Host).count() == 0


def test_duplicate_hostname_is_409(client: TestClient, session: Session) -> None:
    first, second = (
        new_token(client),
        client.post(
            "/api/v1/enrollment-tokens", json={"cluster_id": new_token.__defaults__ or None}
        ),
    )
    del second
    assert enroll(client, first["token"]).status_code == 201
    other = client.post("/api/v1/enrollment-tokens", json={"cluster_id": first["cluster_id"]})
    again = enroll(client, other.json()["token"], port=7099)
    assert error_of(again, 409)["code"] == "name_conflict"
    assert session.query(Host).count() == 1


def test_tokens_need_admin(
    anon_client: TestClient, client: TestClient, make_user: MakeUser
) -> None:
    cluster = client.post("/api/v1/clusters", json={"name": "c"}).json()
    make_user("op", "operator")
    headers = login(anon_client, "op")
    response = anon_client.post(
        "/api/v1/enrollment-tokens", json={"cluster_id": cluster["id"]}, headers=headers
    )
    assert error_of(response, 403)["code"] == "forbidden"


def test_token_for_unknown_cluster_is_422(client: TestClient) -> None:
    response = client.post(
        "/api/v1/enrollment-tokens", json={"cluster_id": "00000000-0000-4000-8000-00000000dead"}
    )
    assert error_of(response, 422)["code"] == "cluster_not_found"


def test_revoke_unused_token(client: TestClient) -> None:
    issued = new_token(client)
    assert client.delete(f"/api/v1/enrollment-tokens/{issued['id']}").status_code == 204
    assert enroll(client, issued["token"]).status_code == 401
