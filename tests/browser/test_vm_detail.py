"""A VM's page in Chromium against the real VRM and agent: start it, power it off and delete
it with the buttons, and watch every state change arrive without a reload."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import ConsoleErrors, log_in, make_vm, remove_vm, screenshot
from tests.cna_agent.conftest import PREFIX
from tests.e2e.processes import Process, wait_until
from tests.e2e.vmlab import run, wait_task

# A TCG guest starts and stops within seconds, but the box is shared (ms).
STATE_MS = 60_000


@pytest.fixture(scope="module")
def detail_vm(web_admin: httpx.Client, web_node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """A stopped VM with a 16 MiB disk and a NIC on the VLAN port group; gone at the end."""
    spec = {
        "name": f"{PREFIX}detail",
        "cluster_id": web_node["cluster"],
        "vcpus": 1,
        "memory_mib": 128,
        "disks": [{"size_mib": 16}],
        "nics": [{"port_group_id": web_node["group"]}],
        "cdroms": [{}],
        "power_on": False,
    }
    vm = make_vm(web_admin, spec)
    yield vm
    remove_vm(web_admin, vm["id"])


def mark(page: Page) -> None:
    """Leave a marker in the page's window: a reload or navigation would lose it."""
    page.evaluate("window.__stayed = true")


def stayed(page: Page) -> bool:
    """Whether the page is still the one that was marked."""
    return bool(page.evaluate("window.__stayed === true"))


def confirm(page: Page) -> None:
    """Say yes in the confirmation dialog."""
    dialog = page.locator("dialog.confirm")
    expect(dialog).to_be_visible()
    dialog.locator("[data-confirm=yes]").click()
    expect(dialog).to_have_count(0)


def test_disks_and_settings_change_through_their_forms(
    page: Page, web_admin: httpx.Client, detail_vm: dict[str, Any]
) -> None:
    log_in(page)
    page.goto(f"/vms/{detail_vm['id']}")
    mark(page)
    disks = page.locator("#vm-disks")
    disks.get_by_label("New disk (MiB)").fill("16")
    disks.get_by_role("button", name="Attach disk").click()
    # The section is read again when the VM's task ends: the new disk shows, no reload.
    expect(disks.locator("tbody tr")).to_have_count(2, timeout=STATE_MS)
    expect(disks).to_contain_text("vdb")
    page.get_by_role("button", name="Detach disk vdb").click()
    confirm(page)
    expect(page.locator("#vm-disks tbody tr")).to_have_count(1, timeout=STATE_MS)
    settings = page.get_by_role("form", name="Settings")
    settings.get_by_label("Description").fill("set in the page")
    settings.get_by_role("button", name="Save settings").click()
    wait_until(
        lambda: web_admin.get(f"/vms/{detail_vm['id']}").json()["description"] == "set in the page",
        timeout_s=10,
        what="the description to be saved",
    )
    volumes = web_admin.get("/volumes", params={"limit": 1000}).json()["items"]
    assert any(volume["name"].endswith("vdb") for volume in volumes), "a detached volume is kept"
    assert stayed(page)


def test_the_migrate_form_sends_the_choices_and_shows_the_refusal(
    page: Page, console_errors: ConsoleErrors, web_admin: httpx.Client, detail_vm: dict[str, Any]
) -> None:
    console_errors.allow(409, rf"^/api/v1/vms/{detail_vm['id']}/actions/migrate$")
    log_in(page)
    page.goto(f"/vms/{detail_vm['id']}")
    form = page.get_by_role("form", name="Migrate")
    # The VM's host is the cluster's only one: placement is the only choice of target.
    expect(form.get_by_label("Target host").locator("option")).to_have_count(1)
    form.get_by_role("button", name="Migrate").click()
    expect(form.locator("[data-form-error]")).to_contain_text("no host can take")
    # The datastore chosen is sent: the disk is already there.
    volume = web_admin.get(f"/volumes/{detail_vm['disks'][0]['volume_id']}").json()
    form.get_by_label("Disks").select_option(volume["datastore_id"])
    form.get_by_role("button", name="Migrate").click()
    expect(form.locator("[data-form-error]")).to_contain_text("already on datastore")
    screenshot(page, "vm-detail-migrate-refused")
    expect(page.locator(".page-head [data-live-state]")).to_have_text("stopped")


def test_start_power_off_and_delete_with_the_buttons(
    page: Page, web_admin: httpx.Client, detail_vm: dict[str, Any]
) -> None:
    log_in(page)
    page.goto(f"/vms/{detail_vm['id']}")
    state = page.locator(".page-head [data-live-state]")
    expect(state).to_have_text("stopped")
    expect(page.get_by_role("link", name="v100")).to_be_visible()
    expect(page.get_by_role("button", name="Power off now")).to_be_disabled()
    screenshot(page, "vm-detail-stopped")
    mark(page)
    page.get_by_role("button", name="Start", exact=True).click()
    expect(state).to_have_text("running", timeout=STATE_MS)
    # The buttons follow the state, and the start task shows up in the VM's task list.
    expect(page.get_by_role("button", name="Start", exact=True)).to_be_disabled()
    expect(page.get_by_role("button", name="Power off now")).to_be_enabled()
    tasks = page.locator("tbody[data-task-rows]")
    expect(tasks.locator("tr").first).to_contain_text("Start VM")
    expect(tasks.locator("tr").first.locator("[data-live-state]")).to_have_text("succeeded")
    assert stayed(page)
    screenshot(page, "vm-detail-running")
    page.get_by_role("button", name="Power off now").click()
    confirm(page)
    expect(state).to_have_text("stopped", timeout=STATE_MS)
    expect(tasks.locator("tr").first).to_contain_text("Stop VM")
    # A snapshot taken with the form shows in the list once its task ends, still no reload.
    page.get_by_label("Snapshot name").fill("before-delete")
    page.get_by_role("button", name="Take snapshot").click()
    expect(tasks.locator("tr").first).to_contain_text("VM snapshot")
    snap = web_admin.get("/tasks", params={"target_id": detail_vm["id"], "type": "vm.snapshot"})
    assert wait_task(web_admin, snap.json()["items"][0]["id"])["state"] == "succeeded"
    expect(page.locator("#vm-snapshots")).to_contain_text("before-delete")
    expect(page.get_by_role("button", name="Delete", exact=True)).to_be_enabled()
    assert stayed(page)
    page.get_by_role("button", name="Delete", exact=True).click()
    confirm(page)
    page.wait_for_url(re.compile(r"/vms$"))
    wait_deleted(web_admin, detail_vm["id"])


def wait_deleted(admin: httpx.Client, vm_id: str) -> None:
    """Wait for the VM's delete task to end, and check it is gone."""
    tasks = admin.get("/tasks", params={"target_id": vm_id, "type": "vm.delete"}).json()
    assert tasks["total"] == 1, tasks
    assert wait_task(admin, tasks["items"][0]["id"])["state"] == "succeeded"
    assert admin.get(f"/vms/{vm_id}").status_code == 404


def test_the_page_in_chinese(
    browser: Browser, web_vrm: Process, web_admin: httpx.Client, web_node: dict[str, Any]
) -> None:
    spec = {
        "name": f"{PREFIX}detail-zh",
        "cluster_id": web_node["cluster"],
        "vcpus": 1,
        "memory_mib": 128,
        "disks": [{"size_mib": 16}],
    }
    vm_id = make_vm(web_admin, spec)["id"]
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
        page.goto(f"/vms/{vm_id}")
        expect(page.get_by_role("button", name="立即断电")).to_be_visible()
        expect(page.locator(".page-head [data-live-state]")).to_have_text("已停止")
        expect(page.locator("tbody[data-task-rows]")).to_contain_text("创建虚拟机")
        screenshot(page, "vm-detail-zh")
        # A narrow window in the dark theme: one column, nothing cut off.
        page.set_viewport_size({"width": 700, "height": 900})
        page.locator(".theme-toggle").click()
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 700, width
        screenshot(page, "vm-detail-zh-narrow-dark")
    finally:
        context.close()
        run(web_admin, web_admin.delete(f"/vms/{vm_id}", params={"delete_volumes": "true"}))
    assert errors.errors == [], errors.errors
