"""Across every page: a viewer changes nothing, Chinese is spoken, the console stays clean."""

from __future__ import annotations

import contextlib
import re
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy.orm import Session

from tests import factories
from tests.browser.conftest import ConsoleErrors, log_in, screenshot
from tests.browser.test_events_users import chinese_context, vrm_database
from tests.e2e.processes import Process

# The pages a viewer looks at; those not built yet (404) are skipped until they are.
VIEWER_PAGES = (
    "/",
    "/vms",
    "/hosts",
    "/clusters",
    "/networks",
    "/storage",
    "/tasks",
    "/events",
    "/events/alarms",
)
# What changes things on a page: none of it may be shown to a viewer.
CHANGERS = (
    "[data-action]",
    "[data-api-form]",
    "[data-bulk-action]",
    "[data-select]",
    "[data-confirm]",
    "a[href='/vms/new']",
    "form[method=post]:not([action='/logout']):not([action='/language'])",
)
# Pages that exist today, whatever else the navigation offers.
BUILT = {"/", "/vms", "/events", "/users"}


@pytest.fixture(scope="module")
def viewer(web_admin: httpx.Client) -> Iterator[tuple[str, str]]:
    """A viewer of the shared VRM: (name, password)."""
    name, password = f"ovrmtest-viewer-{uuid.uuid4().hex[:6]}", "viewer-password-1"
    made = web_admin.post("/users", json={"name": name, "password": password, "role": "viewer"})
    assert made.status_code == 201, made.text
    yield name, password
    web_admin.delete(f"/users/{made.json()['id']}")


@pytest.fixture(scope="module")
def something_to_act_on(web_vrm: Process, web_node: dict[str, Any]) -> None:
    """A cluster and host (the node), an event and an active alarm: rows with actions."""
    with vrm_database(web_vrm) as session:
        _raise(session)


def _raise(session: Session) -> None:
    factories.add_event(session, type="ovrmtest_viewer")
    factories.add_alarm(session, code="ovrmtest_viewer")


def _answers(page: Page, path: str) -> int:
    """The status of a page, asked without showing it (a 404 would log a console error)."""
    return page.request.get(path, headers={"Accept": "text/html"}, max_redirects=0).status


def test_a_viewer_sees_no_action_and_cannot_post(
    page: Page,
    console_errors: ConsoleErrors,
    viewer: tuple[str, str],
    something_to_act_on: None,
) -> None:
    console_errors.allow(403, r"^/api/v1/clusters$")  # the forged requests below
    log_in(page, *viewer)
    expect(page.locator(".who .badge")).to_have_text("viewer")
    seen = []
    for path in VIEWER_PAGES:
        if _answers(page, path) == 404:
            continue
        response = page.goto(path)
        assert response is not None
        assert response.status == 200, path
        page.wait_for_load_state("load")
        for selector in CHANGERS:
            assert page.locator(selector).count() == 0, (path, selector)
        seen.append(path)
    assert {"/", "/vms", "/events", "/events/alarms"} <= set(seen)
    screenshot(page, "viewer-alarms")
    # No admin page for a viewer: not in the menu, and 403 when asked for.
    expect(page.locator("#sidebar a[href='/users']")).to_have_count(0)
    assert _answers(page, "/users") == 403
    # A forged request from the viewer's own page: refused without the CSRF token...
    forged = """async (token) => {
        const headers = {"Content-Type": "application/json"};
        if (token) headers["X-CSRF-Token"] = document.body.dataset.csrf;
        const answer = await fetch("/api/v1/clusters", {
            method: "POST", headers, body: JSON.stringify({name: "forged-by-viewer"})});
        return [answer.status, (await answer.json()).error.code];
    }"""
    assert page.evaluate(forged, False) == [403, "csrf_failed"]
    # ...and with it, the role says no.
    assert page.evaluate(forged, True) == [403, "forbidden"]
    # A classic cross-site form post carries the cookie but no token.
    posted = page.request.post("/api/v1/clusters", form={"name": "forged-by-form"}, max_redirects=0)
    assert posted.status == 403
    assert posted.json()["error"]["code"] == "csrf_failed"


def test_a_chinese_browser_speaks_chinese_until_told_otherwise(
    browser: Browser, web_vrm: Process, web_admin: httpx.Client
) -> None:
    # Its own admin: the language chosen is saved on the account (not on the shared admin).
    name, password = f"ovrmtest-zh-{uuid.uuid4().hex[:6]}", "chinese-password-1"
    made = web_admin.post("/users", json={"name": name, "password": password, "role": "admin"})
    assert made.status_code == 201, made.text
    try:
        _speak_chinese_then_english(browser, web_vrm, name, password)
        # A new Chinese browser: the account's choice (English) wins over the browser's.
        with _chinese_page(browser, web_vrm) as page:
            log_in(page, name, password)
            expect(page.locator("#sidebar").get_by_role("link", name="Dashboard")).to_be_visible()
    finally:
        web_admin.delete(f"/users/{made.json()['id']}")


@contextlib.contextmanager
def _chinese_page(browser: Browser, vrm: Process) -> Iterator[Page]:
    """A page of a zh-CN browser; fails if any of its pages logged a console error."""
    context = chinese_context(browser, vrm)
    errors = ConsoleErrors()
    context.on("page", errors.watch)
    try:
        yield context.new_page()
    finally:
        context.close()
    assert errors.errors == []


def _speak_chinese_then_english(browser: Browser, vrm: Process, name: str, password: str) -> None:
    with _chinese_page(browser, vrm) as page:
        page.goto("/login")
        expect(page.get_by_label("用户名")).to_be_visible()
        expect(page.get_by_label("密码", exact=True)).to_be_visible()
        expect(page.get_by_role("button", name="登录")).to_be_visible()
        screenshot(page, "login-zh")
        log_in(page, name, password)
        nav = page.locator("#sidebar")
        for label in (
            "概览",
            "虚拟机",
            "主机",
            "集群",
            "网络",
            "存储",
            "任务",
            "事件与告警",
            "用户",
        ):
            expect(nav.get_by_role("link", name=label, exact=True)).to_be_visible()
        expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
        # The language menu: English, remembered (cookie) across pages.
        page.goto("/events")
        page.get_by_label("语言").select_option("en")
        page.wait_for_url(re.compile(r"/events$"))
        expect(nav.get_by_role("link", name="Dashboard")).to_be_visible()
        expect(page.get_by_role("heading", level=1)).to_have_text("Events and alarms")
        assert _cookie(page, "vrm_lang")["value"] == "en"
        page.goto("/vms")
        expect(nav.get_by_role("link", name="VMs", exact=True)).to_be_visible()
        expect(page.locator("html")).to_have_attribute("lang", "en")


def _cookie(page: Page, name: str) -> dict[str, Any]:
    return dict(next(c for c in page.context.cookies() if c["name"] == name))


def test_no_page_logs_a_console_error(page: Page, web_node: dict[str, Any]) -> None:
    log_in(page)  # the login page itself is the first one
    links = page.locator("#sidebar a").evaluate_all(
        "links => links.map(a => a.getAttribute('href'))"
    )
    # The API's own documentation is not the WebUI's page.
    pages = [href for href in links if href and not href.startswith("/api/")]
    assert {"/", "/vms", "/events", "/users"} <= set(pages)
    visited = _visit(page, pages)
    # From the lists, one detail page of each kind (a host and a cluster at least).
    for listing, prefix in (("/hosts", "/hosts/"), ("/clusters", "/clusters/"), ("/vms", "/vms/")):
        if listing in visited:
            page.goto(listing)
            first = page.locator(f"main a[href^='{prefix}']:not([href$='/new'])").first
            if first.count():
                visited += _visit(page, [first.get_attribute("href") or ""])
    for tab in ("/events/alarms",):
        visited += _visit(page, [tab])
    assert BUILT | {"/events/alarms"} <= set(visited), visited


def _visit(page: Page, paths: list[str]) -> list[str]:
    """Open each page that answers (skipping those not built yet); the ones shown."""
    shown = []
    for path in paths:
        status = _answers(page, path)
        if status == 404 and "/" not in path.strip("/"):
            continue  # a section another helper has not built yet
        assert status == 200, (path, status)
        response = page.goto(path)
        assert response is not None
        assert response.status == 200, path
        page.wait_for_load_state("load")
        page.wait_for_timeout(300)  # scripts that start after load (live feed, fetches)
        shown.append(path)
    return shown
