"""The events, alarms and users pages in Chromium, against the shared real VRM.

Events and alarms are raised by VRM itself, so the tests write them into the shared
VRM's database (as ``tests.factories`` does); the pages must show them live.
"""

from __future__ import annotations

import contextlib
import re
import uuid
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from tests import factories
from tests.browser.conftest import TIMEOUT_MS, ConsoleErrors, log_in, screenshot
from tests.e2e.processes import Process
from vrm.models.enums import Severity


@contextlib.contextmanager
def vrm_database(vrm: Process) -> Iterator[Session]:
    """A session on the shared VRM's own database (SQLite: wait for its writer)."""
    engine = create_engine(vrm.env["VRM_DATABASE_URL"], connect_args={"timeout": 30})
    try:
        with Session(engine, expire_on_commit=False) as session:
            yield session
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def vrm_db(web_vrm: Process) -> Iterator[Session]:
    """The shared VRM's database, for rows only VRM itself creates (events, alarms)."""
    with vrm_database(web_vrm) as session:
        yield session


def chinese_context(browser: Browser, vrm: Process) -> BrowserContext:
    """A browser context as a Chinese reader's browser: zh-CN first."""
    context = browser.new_context(
        base_url=vrm.url,
        viewport={"width": 1366, "height": 768},
        locale="zh-CN",
        extra_http_headers={"Accept-Language": "zh-CN,zh;q=0.9"},
    )
    context.set_default_timeout(TIMEOUT_MS)
    return context


def _code() -> str:
    """A code nobody else uses, so that a filter finds only this test's rows."""
    return f"ovrmtest_{uuid.uuid4().hex[:8]}"


def test_new_events_appear_on_top_and_the_table_filters(page: Page, vrm_db: Session) -> None:
    before = factories.add_event(vrm_db, type=_code(), severity=Severity.MAJOR)
    log_in(page)
    # Only this test's events (their messages name their type): others may come meanwhile.
    page.goto("/events?q=ovrmtest_")
    rows = page.locator("tbody[data-events] tr")
    expect(rows.first).to_have_attribute("data-event-id", str(before.id))
    screenshot(page, "events")
    # A new event arrives over the live feed and goes on top, without a reload.
    page.evaluate("window.notReloaded = true")
    fresh = factories.add_event(vrm_db, type=_code(), severity=Severity.CRITICAL)
    expect(rows.first).to_have_attribute("data-event-id", str(fresh.id))
    expect(rows.first).to_contain_text(fresh.type)
    expect(rows.first.locator(".badge")).to_have_text("critical")
    assert page.evaluate("window.notReloaded") is True
    # Filters go into the URL and only the table is fetched again.
    page.get_by_label("Severity").select_option("major")
    page.wait_for_url(re.compile(r"severity=major"))
    expect(page.locator(f'tr[data-event-id="{fresh.id}"]')).to_have_count(0)
    expect(page.locator(f'tr[data-event-id="{before.id}"]')).to_have_count(1)
    # A live event that does not match the filter stays out.
    other = factories.add_event(vrm_db, type=_code(), severity=Severity.INFO)
    matching = factories.add_event(vrm_db, type=_code(), severity=Severity.MAJOR)
    expect(rows.first).to_have_attribute("data-event-id", str(matching.id))
    expect(page.locator(f'tr[data-event-id="{other.id}"]')).to_have_count(0)
    # The type links to its filter; the target's kind is shown.
    rows.first.get_by_role("link", name=matching.type).click()
    page.wait_for_url(re.compile(f"type={matching.type}"))
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("host")
    page.set_viewport_size({"width": 640, "height": 800})
    screenshot(page, "events-narrow")


def test_alarms_active_first_acknowledged_and_raised_live(page: Page, vrm_db: Session) -> None:
    code = _code()
    waiting = factories.add_alarm(vrm_db, code=code, severity=Severity.CRITICAL)
    log_in(page)
    page.goto(f"/events/alarms?code={code}")
    row = page.locator(f'tr[data-alarm-id="{waiting.id}"]')
    expect(row.locator("[data-live-state]")).to_have_text("active")
    active = page.locator("[data-active-alarms]")
    count = int(active.inner_text())
    assert count >= 1
    screenshot(page, "alarms")
    row.get_by_role("button", name=re.compile("Acknowledge")).click()
    expect(row.locator("[data-live-state]")).to_have_text("acknowledged")
    expect(row.get_by_role("button")).to_have_count(0)
    expect(active).to_have_text(str(count - 1))
    # A new alarm appears on top, with its button, and the count follows.
    raised = factories.add_alarm(vrm_db, code=code)
    top = page.locator("tbody[data-alarms] tr").first
    expect(top).to_have_attribute("data-alarm-id", str(raised.id))
    expect(top.get_by_role("button", name=re.compile("Acknowledge"))).to_be_visible()
    expect(active).to_have_text(str(count))
    # Acknowledged elsewhere (here: the API), the row follows live.
    answer = page.request.post(
        f"/api/v1/alarms/{raised.id}/acknowledge",
        headers={"X-CSRF-Token": page.locator("body").get_attribute("data-csrf") or ""},
    )
    assert answer.status == 200, answer.text()
    expect(top.locator("[data-live-state]")).to_have_text("acknowledged")
    expect(top.get_by_role("button")).to_have_count(0)
    expect(active).to_have_text(str(count - 1))


def test_managing_users_through_the_page(
    page: Page, web_admin: httpx.Client, console_errors: ConsoleErrors
) -> None:
    # Refusals this test provokes on purpose, each shown by the page (asserted below).
    console_errors.allow(422, r"^/api/v1/users(/[^/]+)?$")
    console_errors.allow(409, r"^/api/v1/users/[^/]+$")
    name = f"ovrmtest-u{uuid.uuid4().hex[:6]}"
    log_in(page)
    page.goto("/users")
    form = page.locator("form[data-create-user]")
    # The API's validation errors appear beside the fields they concern.
    form.get_by_label("User name").fill("not a name!")
    form.get_by_label("Password").fill("short")
    form.get_by_role("button", name="Create user").click()
    expect(form.locator('[data-field-error="name"]')).to_be_visible()
    expect(form.locator('[data-field-error="password"]')).to_be_visible()
    screenshot(page, "users-create-errors")
    form.get_by_label("User name").fill(name)
    form.get_by_label("Password").fill("first-password-1")
    form.get_by_label("Role").select_option("operator")
    form.get_by_role("button", name="Create user").click()
    row = page.locator(f'tr[data-user-name="{name}"]')
    expect(row).to_be_visible()
    user_id = row.get_attribute("data-user-id")
    screenshot(page, "users")
    # Change the role.
    row.get_by_label(f"Role of {name}").select_option("viewer")
    row.get_by_role("button", name="Change role").click()
    expect(page.locator(".toast.ok").last).to_have_text(re.compile("Role changed"))
    assert web_admin.get(f"/users/{user_id}").json()["role"] == "viewer"
    # Disable (confirmed), then enable again.
    row.get_by_role("button", name="Disable").click()
    page.get_by_role("dialog").get_by_role("button", name="Disable").click()
    expect(row.locator("[data-user-enabled]")).to_have_text("disabled")
    assert web_admin.get(f"/users/{user_id}").json()["enabled"] is False
    row.get_by_role("button", name="Enable").click()
    expect(row.locator("[data-user-enabled]")).to_have_text("enabled")
    assert web_admin.get(f"/users/{user_id}").json()["enabled"] is True
    # Reset the password: a short one is refused beside the field.
    row.get_by_role("button", name=f"Reset the password of {name}").click()
    dialog = page.locator("#password-dialog")
    dialog.get_by_label("New password").fill("short")
    dialog.get_by_role("button", name="Set password").click()
    expect(dialog.locator('[data-field-error="password"]')).to_be_visible()
    dialog.get_by_label("New password").fill("second-password-2")
    dialog.get_by_role("button", name="Set password").click()
    expect(dialog).to_be_hidden()
    token = httpx.post(
        str(web_admin.base_url).rstrip("/") + "/auth/token",
        data={"username": name, "password": "second-password-2"},
    )
    assert token.status_code == 200, token.text
    # Delete the new user.
    row.get_by_role("button", name="Delete").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete").click()
    expect(row).to_have_count(0)
    assert web_admin.get(f"/users/{user_id}").status_code == 404
    # Deleting yourself: the API refuses, and the page says so.
    page.goto("/users?q=admin")
    own = page.locator("tr[data-user-name='admin']")
    own.get_by_role("button", name="Delete").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete").click()
    expect(page.locator(".toast.error")).to_contain_text("you cannot delete your own user")
    expect(own).to_be_visible()
    page.set_viewport_size({"width": 640, "height": 800})
    screenshot(page, "users-narrow")


def test_the_pages_in_chinese(browser: Browser, web_vrm: Process, vrm_db: Session) -> None:
    factories.add_event(vrm_db, type=_code(), severity=Severity.MINOR)
    factories.add_alarm(vrm_db, code=_code())
    context = chinese_context(browser, web_vrm)
    errors = ConsoleErrors()
    errors.allow(409, r"^/api/v1/users/[^/]+$")  # deleting yourself, refused below
    context.on("page", errors.watch)
    try:
        page = context.new_page()
        log_in(page)
        page.goto("/events")
        expect(page.get_by_role("heading", level=1)).to_have_text("事件与告警")
        expect(page.get_by_role("columnheader", name="级别")).to_be_visible()
        expect(page.locator("tbody[data-events] .badge").first).to_have_text(
            re.compile("提示|次要|重要|紧急")
        )
        screenshot(page, "events-zh")
        page.goto("/events/alarms")
        expect(page.get_by_role("button", name=re.compile("确认告警")).first).to_be_visible()
        screenshot(page, "alarms-zh")
        page.goto("/users?q=admin")
        expect(page.get_by_role("heading", name="创建用户")).to_be_visible()
        expect(page.get_by_role("columnheader", name="上次登录")).to_be_visible()
        screenshot(page, "users-zh")
        # A refusal of the API in Chinese: deleting yourself.
        page.locator("tr[data-user-name='admin']").get_by_role("button", name="删除").click()
        page.get_by_role("dialog").get_by_role("button", name="删除").click()
        expect(page.locator(".toast.error")).to_contain_text("不能删除自己的用户")
    finally:
        context.close()
    assert errors.errors == []
