"""Logging in and out of the WebUI in Chromium; nothing is shown before login."""

from __future__ import annotations

import httpx
from playwright.sync_api import Page, expect

from tests.browser.conftest import log_in, screenshot
from tests.e2e.processes import ADMIN_PASSWORD, Process


def test_a_wrong_password_then_the_right_one(page: Page) -> None:
    page.goto("/vms?state=running")
    assert "/login" in page.url
    screenshot(page, "login")
    page.get_by_label("User name").fill("admin")
    page.get_by_label("Password", exact=True).fill("not-the-password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_have_text("Wrong user name or password.")
    expect(page.get_by_label("User name")).to_have_value("admin")
    screenshot(page, "login-failed")
    page.get_by_label("Password", exact=True).fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    # Back where the visitor wanted to go, with their name and role shown.
    page.wait_for_url("**/vms?state=running")
    expect(page.locator(".who-name")).to_have_text("admin")
    expect(page.locator(".who .badge")).to_have_text("admin")
    cookie = next(c for c in page.context.cookies() if c["name"] == "vrm_session")
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Strict"


def test_logging_out_ends_the_session(page: Page) -> None:
    log_in(page)
    stolen = next(c for c in page.context.cookies() if c["name"] == "vrm_session")["value"]
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url("**/login")
    page.goto("/")
    assert "/login" in page.url
    # The old cookie is revoked on the server, not only dropped by the browser.
    answer = httpx.get(page.url.split("/login")[0] + "/api/v1/vms", cookies={"vrm_session": stolen})
    assert answer.status_code == 401


def test_nothing_but_the_login_form_before_login(web_vrm: Process) -> None:
    with httpx.Client(base_url=web_vrm.url, headers={"Accept": "text/html"}) as client:
        for path in ("/", "/vms", "/hosts", "/storage", "/tasks", "/users"):
            answer = client.get(path)
            assert answer.status_code == 303, path
            assert answer.headers["location"].startswith("/login?next="), path
        login = client.get("/login").text
        for secret in ("sqlite", "vrm.db", "database", "cluster"):
            assert secret not in login.lower()
        assert client.get("/healthz").status_code == 200
        assert client.get("/readyz").status_code == 200
