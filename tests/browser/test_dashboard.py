"""The dashboard in Chromium: the real host with its usage, kept live by its heartbeats."""

from __future__ import annotations

from typing import Any

import httpx
from playwright.sync_api import Page, expect

from tests import factories
from tests.browser.conftest import log_in, screenshot
from tests.browser.test_events_users import vrm_database
from tests.e2e.processes import Process
from vrm.models.enums import AlarmState, Severity, TaskState


def shot(page: Page, name: str) -> None:
    """A screenshot of the whole page from its top (the sticky bar stays at the top)."""
    page.evaluate("window.scrollTo(0, 0)")
    screenshot(page, name)


def node_host(web_admin: httpx.Client, web_node: dict[str, Any]) -> dict[str, Any]:
    """The shared agent's host as the API shows it."""
    hosts = web_admin.get("/hosts", params={"cluster_id": web_node["cluster"]}).json()["items"]
    assert len(hosts) == 1, hosts
    host: dict[str, Any] = hosts[0]
    return host


def test_the_dashboard_shows_the_host_and_follows_its_heartbeats(
    page: Page, web_admin: httpx.Client, web_node: dict[str, Any]
) -> None:
    host = node_host(web_admin, web_node)
    log_in(page)
    page.goto("/")
    row = page.locator(f'[data-host-row="{host["id"]}"]')
    expect(row).to_be_visible()
    expect(row.get_by_role("link", name=host["name"])).to_have_attribute(
        "href", f"/hosts/{host['id']}"
    )
    expect(row.locator("[data-live-state]")).to_have_text("normal")
    cpu = row.locator('[data-host-usage][data-kind="cpu"]')
    expect(cpu).not_to_have_attribute("data-value", "")
    expect(row.locator('[data-host-usage][data-kind="memory"] .usage-figure')).to_contain_text("%")
    # The agent beats every second: the time shown moves on without a reload.
    beat = row.locator(f'[data-host-beat="{host["id"]}"] time')
    first = beat.get_attribute("datetime")
    assert first
    expect(beat).not_to_have_attribute("datetime", first, timeout=10_000)
    # The chart draws the live values; the cluster's allocation is shown after overcommit.
    expect(page.locator("[data-usage-chart] canvas")).to_have_count(1)
    cluster_row = page.locator(f'[data-cluster-row="{web_node["cluster"]}"]')
    cpus = host["cpu_sockets"] * host["cpu_cores"] * host["cpu_threads"]
    expect(cluster_row.locator('[data-alloc="vcpus"]')).to_contain_text(f"/ {cpus * 8}")
    expect(page.locator('[data-count="hosts"]')).not_to_have_text("0")
    shot(page, "dashboard")


def test_the_dashboard_in_chinese(page: Page, web_vrm: Process, web_node: dict[str, Any]) -> None:
    page.context.add_cookies([{"name": "vrm_lang", "value": "zh_CN", "url": web_vrm.url}])
    log_in(page)
    page.goto("/")
    expect(page.get_by_role("heading", name="集群分配")).to_be_visible()
    expect(page.get_by_role("heading", name="主机使用率")).to_be_visible()
    expect(page.get_by_role("heading", name="最近任务")).to_be_visible()
    expect(page.locator("[data-host-row] [data-live-state]").first).to_have_text("正常")
    shot(page, "dashboard-zh")


def test_new_tasks_and_alarms_appear_without_a_reload(
    page: Page, web_vrm: Process, web_node: dict[str, Any]
) -> None:
    log_in(page)
    page.goto("/")
    alarms = page.locator('[data-count="alarms"]')
    before = int(alarms.inner_text())
    page.evaluate("document.body.dataset.unreloaded = 'yes'")
    with vrm_database(web_vrm) as session:
        task = factories.add_task(session, type="vm.start", state=TaskState.SUCCEEDED)
        alarm = factories.add_alarm(session, code="ovrmtest_dashboard", severity=Severity.CRITICAL)
        try:
            row = page.locator(f'[data-task-row="{task.id}"]')
            expect(row).to_contain_text("Start VM")
            expect(row.locator("[data-live-state]")).to_have_text("succeeded")
            expect(page.locator("[data-task-row]").first).to_have_attribute(
                "data-task-row", str(task.id)
            )
            expect(alarms).to_have_text(str(before + 1))
            expect(page.locator("#dash-alarms")).to_contain_text("ovrmtest_dashboard raised")
            assert page.evaluate("document.body.dataset.unreloaded") == "yes"
            # Dark theme and a narrow window: still readable.
            page.locator(".theme-toggle").click()
            shot(page, "dashboard-dark")
            page.set_viewport_size({"width": 700, "height": 900})
            shot(page, "dashboard-narrow")
        finally:
            alarm.state = AlarmState.CLEARED
            session.commit()
