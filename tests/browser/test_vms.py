"""The VM table in Chromium: server-side search and sort in the URL, the inventory tree,
bulk actions with a result per VM, and states changing without a reload."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import ConsoleErrors, log_in, make_vm, remove_vm, screenshot
from tests.cna_agent.conftest import PREFIX

NAMES = ("bulk-a", "bulk-b", "bulk-c")


@pytest.fixture(scope="module")
def bulk_vms(web_admin: httpx.Client, web_node: dict[str, Any]) -> Iterator[dict[str, str]]:
    """Three stopped VMs with a small blank disk: name -> id."""
    made: dict[str, str] = {}
    for name in NAMES:
        body = {
            "name": f"{PREFIX}{name}",
            "cluster_id": web_node["cluster"],
            "vcpus": 1,
            "memory_mib": 64,
            "disks": [{"size_mib": 16}],
        }
        made[name] = make_vm(web_admin, body)["id"]
    yield made
    for vm_id in made.values():
        remove_vm(web_admin, vm_id)


def names_shown(page: Page) -> list[str]:
    return page.locator("#table tbody td:nth-child(2)").all_inner_texts()


def test_search_and_sort_live_in_the_url(page: Page, bulk_vms: dict[str, str]) -> None:
    log_in(page)
    page.goto("/vms")
    page.get_by_label("Search by name").fill("bulk-")
    page.wait_for_url(re.compile(r".*q=bulk-.*"))
    expect(page.locator("#table tbody tr")).to_have_count(3)
    page.get_by_role("link", name=re.compile("^Name")).click()
    page.wait_for_url(re.compile(r".*sort=-name.*"))
    assert names_shown(page) == [f"{PREFIX}{name}" for name in reversed(NAMES)]
    # The URL alone brings the same view back (a bookmark).
    page.goto(page.url)
    assert names_shown(page) == [f"{PREFIX}{name}" for name in reversed(NAMES)]
    page.goto("/vms?q=bulk-&state=running")
    expect(page.get_by_text("No VMs match.")).to_be_visible()


def test_the_tree_filters_the_table_by_host(page: Page, bulk_vms: dict[str, str]) -> None:
    log_in(page)
    page.goto("/vms")
    host = page.locator(".tree details[data-branch] summary a").first
    host.click()
    page.wait_for_url(re.compile(r".*host_id=.*"))
    assert f"{PREFIX}bulk-a" in names_shown(page)
    branch = page.locator(".tree details[data-branch]").first
    branch.locator("summary").click(position={"x": 2, "y": 5})
    expect(branch.get_by_role("link", name=f"{PREFIX}bulk-a")).to_be_visible()


def test_bulk_start_and_delete_with_a_result_per_vm(
    page: Page, bulk_vms: dict[str, str], console_errors: ConsoleErrors
) -> None:
    # The running VM's delete is refused on purpose.
    console_errors.allow(409, rf"^/api/v1/vms/{bulk_vms['bulk-a']}$")
    log_in(page)
    page.goto("/vms?q=bulk-&sort=name")
    page.evaluate("window.notReloaded = true")
    rows = {name: page.locator(f'tr[data-vm-id="{vm_id}"]') for name, vm_id in bulk_vms.items()}
    rows["bulk-a"].get_by_role("checkbox").check()
    rows["bulk-b"].get_by_role("checkbox").check()
    expect(page.locator("[data-bulk-count]")).to_have_text("2 selected")
    page.get_by_role("button", name="Start", exact=True).click()
    results = page.locator("[data-bulk-results] li")
    expect(results).to_have_count(2)
    expect(results.filter(has_text="queued")).to_have_count(2)
    for name in ("bulk-a", "bulk-b"):
        expect(rows[name].locator(".badge")).to_have_text("running", timeout=60_000)
    assert page.evaluate("window.notReloaded") is True  # pushed, not reloaded
    screenshot(page, "vms-bulk")
    # Delete one running and one stopped VM: one result each, the running one refused.
    rows["bulk-a"].get_by_role("checkbox").check()
    rows["bulk-b"].get_by_role("checkbox").uncheck()
    rows["bulk-c"].get_by_role("checkbox").check()
    page.get_by_role("button", name="Delete", exact=True).click()
    page.locator("dialog [data-confirm=yes]").click()
    expect(results).to_have_count(2)
    expect(results.filter(has_text=f"{PREFIX}bulk-c: queued")).to_have_count(1)
    refused = results.filter(has_text=f"{PREFIX}bulk-a:")
    expect(refused).to_have_class("error")
    expect(rows["bulk-c"].locator(".badge")).to_have_text(re.compile("deleting|stopped"))
