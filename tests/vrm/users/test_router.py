"""The users API: admin only (except /me), on both database backends."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.conftest import MakeUser
from tests.helpers import error_of, login
from vrm.auth.security import verify_password
from vrm.errors import Conflict
from vrm.models import AuditRecord, User
from vrm.users import service
from vrm.users.schemas import UserUpdate

READ_FIELDS = {"id", "name", "role", "enabled", "last_login_at", "created_at", "updated_at"}


def _create(client: TestClient, name: str, role: str = "operator") -> dict[str, Any]:
    response = client.post(
        "/api/v1/users", json={"name": name, "password": f"{name}-pw-123", "role": role}
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def _me(client: TestClient) -> dict[str, Any]:
    body: dict[str, Any] = client.get("/api/v1/users/me").json()
    return body


def test_create_get_update_delete(client: TestClient, session: Session) -> None:
    body = _create(client, "alice", "viewer")
    assert set(body) == READ_FIELDS
    assert (body["name"], body["role"], body["enabled"]) == ("alice", "viewer", True)
    assert client.get(f"/api/v1/users/{body['id']}").json() == body

    patched = client.patch(f"/api/v1/users/{body['id']}", json={"role": "operator"})
    assert patched.status_code == 200, patched.text
    assert patched.json()["role"] == "operator"
    assert client.get(f"/api/v1/users/{body['id']}").json()["role"] == "operator"

    assert client.delete(f"/api/v1/users/{body['id']}").status_code == 204
    assert error_of(client.get(f"/api/v1/users/{body['id']}"), 404)["code"] == "user_not_found"
    actions = session.scalars(
        select(AuditRecord.action).where(AuditRecord.target_id == uuid.UUID(body["id"]))
    ).all()
    assert sorted(actions) == ["user.create", "user.delete", "user.update"]


def test_password_hash_never_appears(client: TestClient) -> None:
    created = client.post(
        "/api/v1/users", json={"name": "bob", "password": "bob-pw-123", "role": "admin"}
    )
    user_id = created.json()["id"]
    responses = [
        created,
        client.get("/api/v1/users"),
        client.get(f"/api/v1/users/{user_id}"),
        client.get("/api/v1/users/me"),
        client.patch(f"/api/v1/users/{user_id}", json={"password": "new-password"}),
        client.post("/api/v1/users", json={"name": "c", "password": "short", "role": "viewer"}),
    ]
    for response in responses:
        assert "password_hash" not in response.text
        assert "scrypt" not in response.text
        assert "bob-pw-123" not in response.text


def test_create_then_log_in(client: TestClient, anon_client: TestClient) -> None:
    _create(client, "carol", "viewer")
    headers = login(anon_client, "carol")
    me = anon_client.get("/api/v1/users/me", headers=headers).json()
    assert (me["name"], me["role"]) == ("carol", "viewer")
    assert me["last_login_at"] is not None


def test_password_change_takes_effect(
    client: TestClient, anon_client: TestClient, session: Session
) -> None:
    body = _create(client, "dave")
    response = client.patch(f"/api/v1/users/{body['id']}", json={"password": "brand-new-pw"})
    assert response.status_code == 200
    user = session.get(User, uuid.UUID(body["id"]))
    assert user is not None
    assert verify_password("brand-new-pw", user.password_hash)
    old = anon_client.post(
        "/api/v1/auth/token", data={"username": "dave", "password": "dave-pw-123"}
    )
    assert old.status_code == 401
    audit = session.scalars(select(AuditRecord).where(AuditRecord.action == "user.update")).one()
    assert audit.details == {"password_changed": True}


def test_disabled_user_cannot_log_in(client: TestClient, anon_client: TestClient) -> None:
    body = _create(client, "erin")
    patched = client.patch(f"/api/v1/users/{body['id']}", json={"enabled": False})
    assert patched.json()["enabled"] is False
    response = anon_client.post(
        "/api/v1/auth/token", data={"username": "erin", "password": "erin-pw-123"}
    )
    assert response.status_code == 401


def test_duplicate_name_conflicts(client: TestClient) -> None:
    _create(client, "frank")
    response = client.post(
        "/api/v1/users", json={"name": "frank", "password": "another-pw", "role": "viewer"}
    )
    assert error_of(response, 409)["code"] == "user_exists"
    assert client.get("/api/v1/users", params={"name": "frank"}).json()["total"] == 1


@pytest.mark.parametrize("role", ["superuser", "Admin", "", "x" * 33, "ad\x00min"])
def test_unknown_role_is_422(client: TestClient, role: str) -> None:
    response = client.post(
        "/api/v1/users", json={"name": "g", "password": "g-pw-1234", "role": role}
    )
    code = error_of(response, 422)["code"]
    assert code == ("unknown_role" if role in {"superuser", "Admin"} else "validation_error")
    assert client.get("/api/v1/users", params={"name": "g"}).json()["total"] == 0


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"name": "h", "role": "viewer"},
        {"name": "h", "password": "h-pw-1234"},
        {"name": "h", "password": "1234567", "role": "viewer"},
        {"name": "h", "password": "x" * 1025, "role": "viewer"},
        {"name": "", "password": "h-pw-1234", "role": "viewer"},
        {"name": "has space", "password": "h-pw-1234", "role": "viewer"},
        {"name": "nul\x00", "password": "h-pw-1234", "role": "viewer"},
        {"name": "x" * 65, "password": "h-pw-1234", "role": "viewer"},
        {"name": "h", "password": "h-pw-1234", "role": "viewer", "enabled": False},
        {"name": "h", "password": "h-pw-1234", "role": "viewer", "password_hash": "x"},
        {"name": "h", "password": 12345678, "role": "viewer"},
    ],
)
def test_invalid_create_is_422(client: TestClient, payload: dict[str, object]) -> None:
    response = client.post("/api/v1/users", json=payload)
    error = error_of(response, 422)
    assert error["code"] == "validation_error"
    assert "h-pw-1234" not in response.text
    assert client.get("/api/v1/users").json()["total"] == 1


@pytest.mark.parametrize(
    "payload",
    [
        {"role": "superuser"},
        {"role": None},
        {"enabled": None},
        {"enabled": "sometimes"},
        {"password": "short"},
        {"name": "renamed"},
        {"password_hash": "x"},
    ],
)
def test_invalid_update_is_422(client: TestClient, payload: dict[str, object]) -> None:
    body = _create(client, "ivan")
    response = client.patch(f"/api/v1/users/{body['id']}", json=payload)
    assert error_of(response, 422)["code"] in {"validation_error", "unknown_role"}
    assert client.get(f"/api/v1/users/{body['id']}").json() == body


def test_cannot_delete_self(client: TestClient) -> None:
    _create(client, "other-admin", "admin")
    me = _me(client)
    error = error_of(client.delete(f"/api/v1/users/{me['id']}"), 409)
    assert error["code"] == "cannot_delete_self"
    assert client.get(f"/api/v1/users/{me['id']}").status_code == 200


def test_last_admin_cannot_be_disabled_or_demoted(client: TestClient) -> None:
    me = _me(client)
    for payload in ({"enabled": False}, {"role": "operator"}, {"role": "viewer", "enabled": True}):
        response = client.patch(f"/api/v1/users/{me['id']}", json=payload)
        assert error_of(response, 409)["code"] == "last_admin", payload
    after = _me(client)
    assert (after["role"], after["enabled"]) == ("admin", True)
    # Changing something else of the last admin is fine.
    assert (
        client.patch(f"/api/v1/users/{me['id']}", json={"password": "rotated-pw"}).status_code
        == 200
    )
    assert client.patch(f"/api/v1/users/{me['id']}", json={"role": "admin"}).status_code == 200


def test_disabled_admins_do_not_count(client: TestClient) -> None:
    disabled = _create(client, "sleeper", "admin")
    assert (
        client.patch(f"/api/v1/users/{disabled['id']}", json={"enabled": False}).status_code == 200
    )
    me = _me(client)
    response = client.patch(f"/api/v1/users/{me['id']}", json={"enabled": False})
    assert error_of(response, 409)["code"] == "last_admin"
    # The disabled admin is not the last enabled one, so it may be deleted.
    assert client.delete(f"/api/v1/users/{disabled['id']}").status_code == 204


def test_an_admin_may_step_down_while_another_remains(client: TestClient) -> None:
    other = _create(client, "deputy", "admin")
    me = _me(client)
    assert client.patch(f"/api/v1/users/{me['id']}", json={"role": "viewer"}).json()["role"] == (
        "viewer"
    )
    # The caller is no admin any more.
    assert error_of(client.get(f"/api/v1/users/{other['id']}"), 403)["code"] == "forbidden"


def test_service_refuses_to_delete_the_last_enabled_admin(
    session: Session, make_user: MakeUser
) -> None:
    only = make_user("only-admin", "admin")
    operator = make_user("op", "operator")
    with pytest.raises(Conflict) as caught:
        service.delete_user(session, actor=operator, user_id=only.user_id)
    assert caught.value.code == "last_admin"
    service.update_user(
        session, actor=operator, user_id=operator.user_id, data=UserUpdate(enabled=False)
    )
    assert session.get(User, only.user_id) is not None


def test_list_paging_sorting_filtering(client: TestClient) -> None:
    for name, role in (("c", "viewer"), ("a", "operator"), ("d", "admin"), ("b", "viewer")):
        _create(client, name, role)
    page = client.get("/api/v1/users", params={"sort": "name", "limit": 2, "offset": 1}).json()
    assert page["total"] == 5
    assert [u["name"] for u in page["items"]] == ["b", "c"]
    viewers = client.get("/api/v1/users", params={"role": "viewer", "sort": "-name"}).json()
    assert ([u["name"] for u in viewers["items"]], viewers["total"]) == (["c", "b"], 2)
    admins = client.get("/api/v1/users", params={"role": "admin", "sort": "name"}).json()
    assert [u["name"] for u in admins["items"]] == ["d", "root"]
    assert all(u["role"] == "admin" for u in admins["items"])
    assert client.get("/api/v1/users", params={"enabled": "false"}).json()["total"] == 0
    assert client.get("/api/v1/users", params={"name": "d"}).json()["items"][0]["role"] == "admin"


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"role": "superuser"}, "unknown_role"),
        ({"role": "a\x00"}, "validation_error"),
        ({"sort": "password_hash"}, "invalid_sort"),
        ({"enabled": "maybe"}, "validation_error"),
    ],
)
def test_bad_list_params_are_422(client: TestClient, params: dict[str, object], code: str) -> None:
    assert error_of(client.get("/api/v1/users", params=params), 422)["code"] == code


def test_unknown_and_malformed_ids_are_404(client: TestClient) -> None:
    ident = uuid.uuid4()
    for response in (
        client.get(f"/api/v1/users/{ident}"),
        client.patch(f"/api/v1/users/{ident}", json={"enabled": True}),
        client.delete(f"/api/v1/users/{ident}"),
        client.get("/api/v1/users/root"),
    ):
        assert error_of(response, 404)["code"].endswith("not_found")


@pytest.mark.parametrize("role", ["operator", "viewer"])
def test_non_admins_are_forbidden_but_see_themselves(
    anon_client: TestClient, make_user: MakeUser, role: str
) -> None:
    target = make_user("target", "viewer")
    make_user("someone", role)
    headers = login(anon_client, "someone")
    me = anon_client.get("/api/v1/users/me", headers=headers)
    assert (me.status_code, me.json()["role"]) == (200, role)
    for response in (
        anon_client.get("/api/v1/users", headers=headers),
        anon_client.get(f"/api/v1/users/{target.user_id}", headers=headers),
        anon_client.post(
            "/api/v1/users",
            json={"name": "x", "password": "x-pw-1234", "role": "admin"},
            headers=headers,
        ),
        anon_client.patch(
            f"/api/v1/users/{me.json()['id']}", json={"role": "admin"}, headers=headers
        ),
        anon_client.delete(f"/api/v1/users/{target.user_id}", headers=headers),
    ):
        assert error_of(response, 403)["code"] == "forbidden"
    assert error_of(anon_client.get("/api/v1/users/me"), 401)
