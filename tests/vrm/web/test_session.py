"""The WebUI's session cookie and CSRF token, shared with /api/v1."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.helpers import error_of
from tests.vrm.web.conftest import HTML, WebLogin
from vrm.auth import cookies
from vrm.web.router import safe_next

pytestmark = pytest.mark.db


def test_pages_need_a_login_and_come_back_after_it(anon_client: TestClient) -> None:
    answer = anon_client.get("/vms?state=running", headers=HTML, follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=%2Fvms%3Fstate%3Drunning"
    # htmx asks for a redirect header instead of following one.
    answer = anon_client.get("/vms", headers={"HX-Request": "true"}, follow_redirects=False)
    assert answer.status_code == 401
    assert answer.headers["HX-Redirect"].startswith("/login?next=")


def test_a_wrong_password_shows_the_form_again(
    anon_client: TestClient, web_login: WebLogin
) -> None:
    web_login("alice", "operator")
    answer = anon_client.post("/login", data={"username": "alice", "password": "nope"})
    assert answer.status_code == 200
    assert "Wrong user name or password." in answer.text
    assert cookies.SESSION_COOKIE not in answer.cookies


def test_a_cookie_with_a_wrong_signature_is_no_session(web_login: WebLogin) -> None:
    client = web_login("bob", "viewer")
    value = client.cookies[cookies.SESSION_COOKIE]
    token, _, mac = value.rpartition(".")
    assert token
    assert mac
    client.cookies.clear()
    client.cookies.set(cookies.SESSION_COOKIE, f"{token}.{'A' * len(mac)}")
    assert client.get("/vms", headers=HTML).status_code == 303


def test_the_api_takes_the_cookie_and_changes_need_the_csrf_token(web_login: WebLogin) -> None:
    client = web_login("carol", "admin")
    assert client.get("/api/v1/clusters").status_code == 200
    forged = client.post("/api/v1/clusters", json={"name": "forged"})
    assert error_of(forged, 403)["code"] == "csrf_failed"
    wrong = client.post(
        "/api/v1/clusters", json={"name": "forged"}, headers={cookies.CSRF_HEADER: "x" * 43}
    )
    assert error_of(wrong, 403)["code"] == "csrf_failed"
    made = client.post(
        "/api/v1/clusters", json={"name": "by-page"}, headers={cookies.CSRF_HEADER: client.csrf}
    )
    assert made.status_code == 201, made.text


def test_a_viewers_forged_post_is_refused(web_login: WebLogin) -> None:
    client = web_login("dave", "viewer")
    forged = client.post("/api/v1/clusters", json={"name": "x"})
    assert error_of(forged, 403)["code"] == "csrf_failed"
    with_token = client.post(
        "/api/v1/clusters", json={"name": "x"}, headers={cookies.CSRF_HEADER: client.csrf}
    )
    assert error_of(with_token, 403)["code"] == "forbidden"


def test_logout_needs_the_csrf_token_and_revokes_the_session(web_login: WebLogin) -> None:
    client = web_login("erin", "operator")
    forged = client.post("/logout", headers=HTML)
    assert forged.status_code == 403
    assert "csrf_failed" in forged.text
    assert client.get("/api/v1/clusters").status_code == 200
    token = client.cookies[cookies.SESSION_COOKIE]
    answer = client.post("/logout", data={"csrf_token": client.csrf})
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login"
    client.cookies.clear()
    client.cookies.set(cookies.SESSION_COOKIE, token)
    assert error_of(client.get("/api/v1/clusters"), 401)["code"] == "invalid_token"


@pytest.mark.parametrize(
    ("target", "kept"),
    [
        ("/vms?state=running", "/vms?state=running"),
        ("https://evil.example/", "/"),
        ("//evil.example/x", "/"),
        ("javascript:alert(1)", "/"),
        ("", "/"),
    ],
)
def test_login_goes_on_only_to_this_site(target: str, kept: str) -> None:
    assert safe_next(target) == kept


def test_nonsense_in_the_url_is_never_a_500(web_login: WebLogin) -> None:
    client = web_login("frank", "viewer")
    for query in (
        "state=bogus&page=abc&per_page=7&sort=;drop",
        "cluster_id=not-a-uuid&host_id=%00&q=" + "x" * 500,
        "q=%25_%5C&page=-4&sort=-nothing",
    ):
        answer = client.get(f"/vms?{query}", headers=HTML)
        assert answer.status_code == 200, (query, answer.text[:300])
    missing = client.get("/vms/not-a-uuid", headers=HTML)
    assert missing.status_code == 404
    assert "<html" in missing.text


def test_pages_carry_a_strict_script_policy(web_login: WebLogin) -> None:
    client = web_login("gina", "viewer")
    answer = client.get("/vms", headers=HTML)
    policy = answer.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]
    assert "<script>" not in answer.text  # no inline script: every script is a file
    assert answer.headers["cache-control"] == "no-store"


def test_the_chosen_language_follows_the_user_to_another_browser(
    web_login: WebLogin, anon_client: TestClient
) -> None:
    client = web_login("hana", "viewer")
    assert ">VMs<" in client.get("/vms", headers=HTML).text
    chosen = client.post(
        "/language", data={"lang": "zh_CN", "next": "/vms", "csrf_token": client.csrf}
    )
    assert chosen.status_code == 303
    assert ">虚拟机<" in client.get("/vms", headers=HTML).text
    # Another browser (no language cookie, an English Accept-Language) logs in as hana.
    answer = anon_client.post(
        "/login", data={"username": "hana", "password": "hana-pw-123"}, follow_redirects=False
    )
    assert answer.cookies.get("vrm_lang") == "zh_CN"
    page = anon_client.get("/vms", headers={**HTML, "Accept-Language": "en-US"}).text
    assert ">虚拟机<" in page


def test_the_browser_language_decides_until_the_user_chooses(web_login: WebLogin) -> None:
    client = web_login("ivan", "viewer")
    assert (
        ">概览<" in client.get("/vms", headers={**HTML, "Accept-Language": "zh-CN,zh;q=0.9"}).text
    )
    assert ">Dashboard<" in client.get("/vms", headers={**HTML, "Accept-Language": "fr"}).text
    # Without the page's CSRF token a choice is kept in this browser only.
    client.post("/language", data={"lang": "zh_CN", "next": "/vms"})
    client.cookies.delete("vrm_lang")
    assert ">Dashboard<" in client.get("/vms", headers=HTML).text
