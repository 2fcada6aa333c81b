"""Host and cluster pages in Chromium: the real node's facts and usage, cluster settings."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests import factories
from tests.browser.conftest import ConsoleErrors, log_in
from tests.browser.test_dashboard import node_host, shot
from tests.browser.test_events_users import vrm_database
from tests.cna_agent.conftest import PREFIX
from tests.e2e.processes import Process


@pytest.fixture
def spare_cluster(web_admin: httpx.Client, web_vrm: Process) -> Iterator[dict[str, Any]]:
    """A cluster of this test's own with two stopped VMs on no host (rows only: no guest);
    the shared node's cluster stays as it is."""
    made = web_admin.post("/clusters", json={"name": f"{PREFIX}c-{uuid.uuid4().hex[:6]}"})
    assert made.status_code == 201, made.text
    cluster: dict[str, Any] = made.json()
    with vrm_database(web_vrm) as session:
        vms = [
            factories.add_vm(session, uuid.UUID(cluster["id"]), name=f"{PREFIX}rule-{n}")
            for n in (1, 2)
        ]
        cluster["vms"] = [vm.name for vm in vms]
        yield cluster
        for rule in web_admin.get("/placement-rules", params={"cluster_id": cluster["id"]}).json()[
            "items"
        ]:
            web_admin.delete(f"/placement-rules/{rule['id']}")
        for vm in vms:
            session.delete(vm)
        session.commit()
    web_admin.delete(f"/clusters/{cluster['id']}")


def test_the_host_table_and_the_host_page(
    page: Page, web_admin: httpx.Client, web_node: dict[str, Any]
) -> None:
    host = node_host(web_admin, web_node)
    log_in(page)
    page.goto(f"/hosts?cluster_id={web_node['cluster']}")
    row = page.locator(f'[data-host-row="{host["id"]}"]')
    expect(row.locator("[data-live-state]")).to_have_text("normal")
    expect(page.get_by_label("Cluster")).to_have_value(web_node["cluster"])
    beat = row.locator(f'[data-host-beat="{host["id"]}"] time')
    first = beat.get_attribute("datetime")
    assert first
    expect(beat).not_to_have_attribute("datetime", first, timeout=10_000)
    shot(page, "hosts")
    # Filtering by a state the host is not in empties the table, in the URL.
    page.get_by_label("State").select_option("fault")
    expect(page.get_by_text("No hosts match.")).to_be_visible()
    assert "state=fault" in page.url
    page.goto("/hosts")
    page.get_by_role("link", name=host["name"], exact=True).click()
    page.wait_for_url(f"**/hosts/{host['id']}")
    expect(page.get_by_role("heading", name=host["name"])).to_be_visible()
    facts = page.locator("dl.facts").first
    expect(facts).to_contain_text(host["hypervisor"])
    expect(facts).to_contain_text(host["libvirt_version"])
    expect(facts).to_contain_text(f"{host['cpu_mhz']} MHz")
    expect(page.locator('[data-host-usage][data-kind="cpu"]')).not_to_have_attribute(
        "data-value", ""
    )
    expect(page.get_by_role("cell", name=web_node["pool"])).to_be_visible()
    shot(page, "host-detail")


def test_cluster_settings_refused_beside_the_field_then_saved(
    page: Page,
    console_errors: ConsoleErrors,
    spare_cluster: dict[str, Any],
    web_admin: httpx.Client,
) -> None:
    console_errors.allow(422, r"^/api/v1/clusters/[0-9a-f-]{36}$")
    console_errors.allow(422, r"^/api/v1/placement-rules$")
    log_in(page)
    page.goto("/clusters")
    page.get_by_role("link", name=spare_cluster["name"], exact=True).click()
    page.wait_for_url(f"**/clusters/{spare_cluster['id']}")
    form = page.locator("form.settings-form")
    form.get_by_label("CPU overcommit").fill("64")
    form.get_by_role("button", name="Save settings").click()
    error = form.locator('[data-field-error="cpu_overcommit"]')
    expect(error).to_contain_text("less than or equal to 32")
    expect(form.get_by_label("CPU overcommit")).to_have_attribute("aria-invalid", "true")
    shot(page, "cluster-edit-error")
    form.get_by_label("CPU overcommit").fill("2.5")
    form.get_by_label("DRS mode").select_option("manual")
    form.get_by_role("button", name="Save settings").click()
    expect(page.locator('[data-setting="cpu_overcommit"]')).to_have_text("× 2.5")
    expect(page.locator('[data-setting="drs_mode"]')).to_have_text("Manual")
    saved = web_admin.get(f"/clusters/{spare_cluster['id']}").json()
    assert (saved["cpu_overcommit"], saved["drs_mode"]) == (2.5, "manual")
    # A rule without the VMs it needs is refused beside the VM list.
    rule = page.locator("form[data-rule-form]")
    rule.get_by_label("Name").fill("together")
    rule.get_by_role("button", name="Add rule").click()
    expect(rule.locator('[data-field-error="vm_ids"]')).to_contain_text("two VMs")
    shot(page, "cluster-rule-error")
    rule.get_by_label("VMs").select_option(label=spare_cluster["vms"])
    rule.get_by_role("button", name="Add rule").click()
    added = page.locator("[data-rule-row]")
    expect(added).to_contain_text("together")
    for name in spare_cluster["vms"]:
        expect(added.get_by_role("link", name=name)).to_be_visible()
    shot(page, "cluster-detail")
    added.get_by_role("button", name="Delete rule together").click()
    page.locator("dialog [data-confirm=yes]").click()
    expect(page.get_by_text("No placement rules.")).to_be_visible()
    assert (
        web_admin.get("/placement-rules", params={"cluster_id": spare_cluster["id"]}).json()[
            "total"
        ]
        == 0
    )


def test_creating_and_deleting_a_cluster(page: Page, web_admin: httpx.Client) -> None:
    name = f"{PREFIX}new-{uuid.uuid4().hex[:6]}"
    log_in(page)
    page.goto("/clusters")
    form = page.locator("form.create-form, .create-form form")
    form.get_by_label("Name").fill(name)
    form.get_by_label("Memory overcommit").fill("1.5")
    form.get_by_role("button", name="Create cluster").click()
    page.wait_for_url(re.compile(r".*/clusters/[0-9a-f-]{36}$"))
    expect(page.get_by_role("heading", name=name)).to_be_visible()
    expect(page.locator('[data-setting="mem_overcommit"]')).to_have_text("× 1.5")
    page.get_by_role("button", name="Delete cluster").click()
    page.locator("dialog [data-confirm=yes]").click()
    page.wait_for_url("**/clusters")
    shot(page, "clusters")
    assert web_admin.get("/clusters", params={"name": name}).json()["total"] == 0


def test_a_host_enters_and_leaves_maintenance_with_its_buttons(
    page: Page, web_admin: httpx.Client, web_vrm: Process, spare_cluster: dict[str, Any]
) -> None:
    # A host of rows only, with no VM: its evacuation has nothing to move.
    with vrm_database(web_vrm) as session:
        host = factories.add_host(session, uuid.UUID(spare_cluster["id"]), name=f"{PREFIX}mnt")
        host_id = str(host.id)
    try:
        log_in(page)
        page.goto(f"/hosts/{host_id}")
        state = page.locator(".page-head [data-live-state]")
        expect(state).to_have_text("normal")
        page.get_by_role("button", name="Enter maintenance mode").click()
        page.locator("dialog [data-confirm=yes]").click()
        # The evacuation task ends at once; the state arrives without a reload.
        expect(state).to_have_text("maintenance", timeout=30_000)
        page.reload()
        shot(page, "host-maintenance")
        page.get_by_role("button", name="Exit maintenance mode").click()
        expect(state).to_have_text("normal", timeout=30_000)
        assert web_admin.get(f"/hosts/{host_id}").json()["state"] == "normal"
    finally:
        web_admin.delete(f"/hosts/{host_id}")
