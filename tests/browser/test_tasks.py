"""The task centre in Chromium against the real VRM and agent: a new task appears at the
top and reaches its end without a reload; a task's own page; the centre in Chinese."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import ConsoleErrors, log_in, make_vm, remove_vm, screenshot
from tests.cna_agent.conftest import PREFIX
from tests.e2e.processes import Process

# A TCG guest starts within seconds, but the box is shared (ms).
STATE_MS = 60_000


@pytest.fixture(scope="module")
def task_vm(web_admin: httpx.Client, web_node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """A stopped VM with a 16 MiB disk; powered off and deleted at the end."""
    spec = {
        "name": f"{PREFIX}tasks",
        "cluster_id": web_node["cluster"],
        "vcpus": 1,
        "memory_mib": 128,
        "disks": [{"size_mib": 16}],
        "power_on": False,
    }
    vm = make_vm(web_admin, spec)
    yield vm
    remove_vm(web_admin, vm["id"])


def test_a_new_task_appears_and_ends_live(
    page: Page, web_admin: httpx.Client, task_vm: dict[str, Any]
) -> None:
    log_in(page)
    page.goto("/tasks")
    page.evaluate("window.__stayed = true")
    answer = web_admin.post(f"/vms/{task_vm['id']}/actions/start")
    assert answer.status_code == 202, answer.text
    task_id = answer.json()["task"]["id"]
    row = page.locator(f'tr[data-task-id="{task_id}"]')
    expect(row.locator("[data-live-state]")).to_have_text("succeeded", timeout=STATE_MS)
    expect(row.locator("progress")).to_have_js_property("value", 100)
    expect(row).to_contain_text("Start VM")
    expect(row.get_by_role("link", name=task_vm["name"])).to_be_visible()
    assert page.locator("tbody tr").first.get_attribute("data-task-id") == task_id
    # A guest without an OS ignores the power button: the stop fails, with a hint.
    stop = web_admin.post(f"/vms/{task_vm['id']}/actions/stop", json={"timeout_s": 1})
    assert stop.status_code == 202, stop.text
    failed = page.locator(f'tr[data-task-id="{stop.json()["task"]["id"]}"]')
    expect(failed.locator("[data-live-state]")).to_have_text("failed", timeout=STATE_MS)
    expect(failed.locator(".task-error code")).to_have_text("stop_timeout")
    expect(failed.locator(".task-error .hint")).to_contain_text("use Power off now")
    # Nothing reloaded the page: the rows came from the live feed.
    assert page.evaluate("window.__stayed === true")
    screenshot(page, "tasks")
    row.get_by_role("link", name="Start VM").click()
    page.wait_for_url(f"**/tasks/{task_id}")
    expect(page.locator("ol.steps li.done").first).to_be_visible()
    expect(page.get_by_role("link", name=task_vm["name"])).to_be_visible()
    screenshot(page, "task-detail")


def test_the_task_centre_in_chinese(
    browser: Browser, web_vrm: Process, web_admin: httpx.Client, task_vm: dict[str, Any]
) -> None:
    errors = ConsoleErrors()
    context = browser.new_context(
        base_url=web_vrm.url,
        viewport={"width": 1366, "height": 768},
        locale="zh-CN",
        extra_http_headers={"Accept-Language": "zh-CN,zh;q=0.9"},
    )
    try:
        context.on("page", errors.watch)
        page = context.new_page()
        log_in(page)
        page.goto("/tasks")
        expect(page.get_by_role("heading", name="任务中心")).to_be_visible()
        expect(page.locator("tbody").get_by_text("创建虚拟机").first).to_be_visible()
        screenshot(page, "tasks-zh")
    finally:
        context.close()
    assert errors.errors == [], errors.errors
