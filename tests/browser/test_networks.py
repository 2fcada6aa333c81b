"""Network pages in Chromium: IP pool errors beside their fields, then a pool with counts."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
from playwright.sync_api import Page, expect

from tests.browser.conftest import ConsoleErrors, log_in, screenshot
from tests.cna_agent.conftest import PREFIX


def fill_pool(page: Page, form: Any, **fields: str) -> None:
    """Type values into the IP pool form (``ranges`` as "start-end,start-end")."""
    for name, value in fields.items():
        if name != "ranges":
            form.locator(f'[name="{name}"]').fill(value)
    if "ranges" not in fields:
        return
    ranges = fields["ranges"].split(",")
    while form.locator("[data-range]").count() < len(ranges):
        form.get_by_role("button", name=re.compile("Add a range")).click()
    for index, text in enumerate(ranges):
        start, _, end = text.partition("-")
        form.locator(f'[name="ranges.{index}.start"]').fill(start)
        form.locator(f'[name="ranges.{index}.end"]').fill(end)


def field_error(form: Any, name: str) -> Any:
    """The error shown beside the field ``name``."""
    return form.locator(f'[name="{name}"] + [data-field-error="{name}"]')


def test_ip_pool_errors_appear_beside_their_fields_then_the_pool_is_listed(
    page: Page,
    web_node: dict[str, Any],
    web_admin: httpx.Client,
    console_errors: ConsoleErrors,
) -> None:
    console_errors.allow(422, r"/ip-pools$")
    console_errors.allow(409, r"/ip-pools$")
    name = f"{PREFIX}pool-{uuid.uuid4().hex[:6]}"
    log_in(page)
    page.goto("/networks")
    expect(page.locator(f'tr[data-dvs-id="{web_node["dvs"]["id"]}"]')).to_contain_text("e2e-dvs")
    screenshot(page, "networks")
    details = page.locator("#ip-pools details.create")
    if details.get_attribute("open") is None:
        details.get_by_text("Create an IP pool").click()
    form = page.locator("form[data-pool-form]")
    form.get_by_label("Port group").select_option(web_node["group"])
    # A gateway outside the subnet: the API's 422 shows beside the gateway.
    fill_pool(
        page,
        form,
        name=name,
        cidr="10.77.0.0/24",
        gateway="10.99.0.1",
        ranges="10.77.0.10-10.77.0.20",
    )
    form.get_by_role("button", name="Create IP pool").click()
    expect(field_error(form, "gateway")).to_contain_text("not a usable address of 10.77.0.0/24")
    expect(form.get_by_label("Gateway")).to_have_attribute("aria-invalid", "true")
    screenshot(page, "networks-pool-error")
    # A CIDR with host bits set: beside the CIDR, with the suggestion; the old error is gone.
    fill_pool(page, form, cidr="10.77.0.1/24", gateway="10.77.0.1")
    form.get_by_role("button", name="Create IP pool").click()
    expect(field_error(form, "cidr")).to_contain_text("did you mean 10.77.0.0/24")
    expect(field_error(form, "gateway")).to_have_count(0)
    # Overlapping ranges (409, no field in the error): beside the second range.
    fill_pool(page, form, cidr="10.77.0.0/24", ranges="10.77.0.10-10.77.0.20,10.77.0.15-10.77.0.30")
    form.get_by_role("button", name="Create IP pool").click()
    expect(field_error(form, "ranges.1.start")).to_contain_text("overlap")
    # Fixed: one range of 11 addresses, one of them reserved.
    form.locator("[data-remove-range]").nth(1).click()
    form.get_by_label("Reserved").fill("10.77.0.15")
    form.get_by_role("button", name="Create IP pool").click()
    page.wait_for_url(re.compile(r"/networks/ip-pools/[0-9a-f-]{36}$"))
    pool_id = page.url.rsplit("/", 1)[1]
    try:
        expect(page.locator(".cards [data-used]")).to_have_text("1")
        expect(page.locator(".cards [data-free]")).to_have_text("10")
        expect(page.locator('tr[data-address="10.77.0.15"]')).to_contain_text("Reserved")
        screenshot(page, "networks-ip-pool")
        page.goto("/networks")
        row = page.locator(f'tr[data-pool-id="{pool_id}"]')
        expect(row.locator("[data-used]")).to_have_text("1")
        expect(row.locator("[data-free]")).to_have_text("10")
        expect(row.locator("[data-total]")).to_have_text("11")
        # Delete it through its page, with the confirmation.
        page.goto(f"/networks/ip-pools/{pool_id}")
        page.get_by_role("button", name="Delete").click()
        page.get_by_role("dialog").get_by_role("button", name="Delete").click()
        page.wait_for_url(re.compile(r"/networks(#ip-pools)?$"))
        expect(page.locator(f'tr[data-pool-id="{pool_id}"]')).to_have_count(0)
    finally:
        web_admin.delete(f"/ip-pools/{pool_id}")
    assert web_admin.get(f"/ip-pools/{pool_id}").status_code == 404


def test_switch_and_port_group_pages_in_both_languages(
    page: Page, web_node: dict[str, Any], web_vrm: Any
) -> None:
    log_in(page)
    page.goto(f"/networks/dvs/{web_node['dvs']['id']}")
    expect(page.get_by_role("heading", name=web_node["dvs"]["name"])).to_be_visible()
    expect(page.get_by_role("link", name="v100")).to_be_visible()
    screenshot(page, "networks-dvs")
    page.goto(f"/networks/port-groups/{web_node['group']}")
    expect(page.locator("dl.facts")).to_contain_text("VLAN 100")
    screenshot(page, "networks-port-group")
    page.set_viewport_size({"width": 420, "height": 900})
    screenshot(page, "networks-port-group-narrow")
    page.set_viewport_size({"width": 1366, "height": 768})
    page.context.add_cookies([{"name": "vrm_lang", "value": "zh_CN", "url": web_vrm.url}])
    page.goto("/networks")
    expect(page.get_by_role("heading", name="分布式虚拟交换机")).to_be_visible()
    expect(page.get_by_role("heading", name="IP 地址池")).to_be_visible()
    screenshot(page, "networks-zh")
