"""The users page: admins only; its forms drive /api/v1/users, whose refusals it shows."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.helpers import error_of
from tests.vrm.web.conftest import HTML, WebClient, WebLogin
from vrm.auth import cookies
from vrm.web import i18n

pytestmark = pytest.mark.db


def _names(html: str) -> list[str]:
    """The user names of the table's rows, in order."""
    return re.findall(r'data-user-name="([^"]+)"', html)


def _api(client: WebClient, method: str, path: str, json: object | None = None) -> Any:
    """Call the API as the page's script does: cookie and CSRF token."""
    return client.request(
        method, f"/api/v1{path}", json=json, headers={cookies.CSRF_HEADER: client.csrf}
    )


@pytest.mark.parametrize("role", ["operator", "viewer"])
def test_only_admins_see_the_page(web_login: WebLogin, role: str) -> None:
    client = web_login(f"not-admin-{role}", role)
    answer = client.get("/users", headers=HTML)
    assert answer.status_code == 403
    assert "<html" in answer.text
    assert "forbidden" in answer.text
    assert 'href="/users"' not in client.get("/vms", headers=HTML).text  # not in the menu


def test_an_admin_sees_users_with_role_state_and_forms(web_login: WebLogin) -> None:
    web_login("u-viewer", "viewer")
    admin = web_login("u-admin", "admin")
    answer = admin.get("/users", headers=HTML)
    assert answer.status_code == 200
    page = answer.text
    assert {"u-admin", "u-viewer"} <= set(_names(page))
    assert 'data-api-form="POST /users"' in page
    for field in ("name", "password", "role"):
        assert f'name="{field}"' in page
    row = page.split('data-user-name="u-viewer"')[1].split("</tr>")[0]
    assert re.search(r'<option value="viewer" selected>', row)
    assert "enabled" in row
    assert '"enabled":false' in row  # the disable button
    assert "data-reset-password" in row
    assert 'data-action="DELETE /users/' in row
    assert "(you)" in page.split('data-user-name="u-admin"')[1].split("</tr>")[0]
    assert 'href="/users" aria-current="page"' in page


def test_the_table_searches_filters_sorts_and_pages(web_login: WebLogin) -> None:
    admin = web_login("p-admin", "admin")
    for index in range(3):
        made = _api(
            admin,
            "POST",
            "/users",
            {"name": f"p-op-{index}", "password": "pass-word-1", "role": "operator"},
        )
        assert made.status_code == 201
    off = _api(admin, "GET", "/users?name=p-op-2")
    user_id = off.json()["items"][0]["id"]
    assert _api(admin, "PATCH", f"/users/{user_id}", {"enabled": False}).status_code == 200

    def names(query: str) -> list[str]:
        answer = admin.get(f"/users?{query}", headers=HTML)
        assert answer.status_code == 200, answer.text[:300]
        return _names(answer.text)

    assert names("q=p-op") == ["p-op-0", "p-op-1", "p-op-2"]
    assert names("q=p-op&sort=-name") == ["p-op-2", "p-op-1", "p-op-0"]
    assert names("role=operator&enabled=yes") == ["p-op-0", "p-op-1"]
    assert names("q=p-&enabled=no") == ["p-op-2"]
    assert names("role=admin") == ["p-admin"]
    assert names("q=p-op&per_page=25&page=2") == []
    for nonsense in ("role=root&enabled=maybe&sort=password_hash", "q=%00&page=x&per_page=-1"):
        assert admin.get(f"/users?{nonsense}", headers=HTML).status_code == 200


def test_the_api_refuses_what_the_page_must_show(web_login: WebLogin) -> None:
    admin = web_login("only-admin", "admin")
    me = _api(admin, "GET", "/users/me").json()
    refused = _api(admin, "DELETE", f"/users/{me['id']}")
    assert error_of(refused, 409)["code"] == "cannot_delete_self"
    short = _api(
        admin, "POST", "/users", {"name": "bad name", "password": "short", "role": "viewer"}
    )
    fields = {tuple(e["loc"]) for e in error_of(short, 422)["details"]["errors"]}
    assert {("body", "name"), ("body", "password")} <= fields
    # Every refusal has a translated text for the page's script.
    zh = i18n.catalogue("zh_CN")
    for code in ("cannot_delete_self", "last_admin", "user_exists", "unknown_role"):
        assert f"error:{code}" in zh, code


def test_the_page_speaks_chinese(web_login: WebLogin) -> None:
    admin = web_login("zh-admin", "admin")
    page = admin.get("/users", headers={**HTML, "Accept-Language": "zh-CN"}).text
    for text in ("用户", "创建用户", "重置密码", "上次登录"):
        assert text in page, text
