"""The VM create wizard in Chromium, against the shared VRM and agent: a VM made from the
test ISO through every step reaches ``running`` on the page without a reload, and the
API's error for a bad address shows beside the NIC's field."""

from __future__ import annotations

import json
import re
import subprocess
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, Route, expect

from tests.browser.conftest import ConsoleErrors, log_in, remove_vm, screenshot
from tests.cna_agent.conftest import PREFIX
from tests.e2e.processes import Process
from tests.e2e.test_images import new_image, upload
from tests.e2e.vmlab import run
from tests.media import tiny_iso

# Booting the tiny guest under TCG on a shared box takes a while.
RUNNING_MS = 120_000
VM_URL = re.compile(r"/vms/([0-9a-f-]{36})$")


@pytest.fixture(scope="module")
def iso(web_admin: httpx.Client, web_node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The tiny bootable ISO in the image library (uploaded as an operator would)."""
    image = new_image(web_admin, f"{PREFIX}wizard-{uuid.uuid4().hex[:6]}", "iso")
    answer = upload(web_admin, image["id"], tiny_iso())
    assert answer.status_code == 200, answer.text
    assert answer.json()["state"] == "ready"
    yield image
    web_admin.delete(f"/images/{image['id']}")


@pytest.fixture(scope="module")
def disk_image(
    web_admin: httpx.Client, web_node: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    """A small empty qcow2 disk image in the image library."""
    path = tmp_path_factory.mktemp("wizard") / "disk.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(path), "16M"], check=True)
    image = new_image(web_admin, f"{PREFIX}wizard-disk-{uuid.uuid4().hex[:6]}", "qcow2")
    answer = upload(web_admin, image["id"], path)
    assert answer.status_code == 200, answer.text
    yield image
    web_admin.delete(f"/images/{image['id']}")


@pytest.fixture(scope="module")
def template(web_admin: httpx.Client, web_node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """A small template (a VM without disks, converted)."""
    body = {"name": f"{PREFIX}wiz-tpl", "cluster_id": web_node["cluster"]}
    made = web_admin.post("/vms", json={**body, "vcpus": 1, "memory_mib": 64})
    assert run(web_admin, made)["state"] == "succeeded"
    vm_id = made.json()["vm"]["id"]
    converted = web_admin.post(f"/vms/{vm_id}/actions/convert-to-template")
    assert run(web_admin, converted)["state"] == "succeeded"
    yield made.json()["vm"]
    remove_vm(web_admin, vm_id)


def next_step(page: Page) -> None:
    page.get_by_role("button", name=re.compile(r"^(Next step|下一步)")).click()


def current_step(page: Page) -> str:
    return str(page.locator("[data-step]:not([hidden])").get_attribute("data-step"))


def test_a_vm_from_the_iso_reaches_running_on_the_page(
    page: Page,
    web_admin: httpx.Client,
    web_node: dict[str, Any],
    iso: dict[str, Any],
) -> None:
    name = f"{PREFIX}wiz-{uuid.uuid4().hex[:6]}"
    log_in(page)
    page.goto("/vms")
    page.get_by_role("link", name="Create VM").click()
    page.wait_for_url("**/vms/new")
    expect(page.get_by_role("button", name=re.compile("Source"))).to_have_attribute(
        "aria-current", "step"
    )
    page.locator("input[name=source][value=iso]").check()
    page.get_by_label("ISO image", exact=True).select_option(iso["id"])
    screenshot(page, "wizard-1-source")
    next_step(page)
    page.get_by_label("Cluster").select_option(web_node["cluster"])
    screenshot(page, "wizard-2-placement")
    next_step(page)
    page.get_by_label("vCPUs", exact=True).fill("1")
    page.get_by_label("Memory (MiB)", exact=True).fill("256")
    screenshot(page, "wizard-3-resources")
    next_step(page)
    page.get_by_label("Size (MiB)").fill("16")
    screenshot(page, "wizard-4-disks")
    next_step(page)
    screenshot(page, "wizard-5-nics")
    page.get_by_role("button", name="Remove NIC 1").click()
    expect(page.get_by_text("No NIC: the VM has no network.")).to_be_visible()
    next_step(page)
    screenshot(page, "wizard-6-cloudinit")
    next_step(page)
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Power on after it is created").check()
    screenshot(page, "wizard-7-settings")
    next_step(page)
    summary = page.locator("[data-summary]")
    expect(summary).to_contain_text(name)
    expect(summary).to_contain_text("256 MiB")
    expect(summary).to_contain_text("1: 16 MiB, virtio")
    screenshot(page, "wizard-8-summary")

    page.get_by_role("button", name="Create", exact=True).click()
    page.wait_for_url(VM_URL)
    found = VM_URL.search(page.url)
    assert found
    vm_id = found.group(1)
    try:
        vm = web_admin.get(f"/vms/{vm_id}").json()
        assert vm["name"] == name
        assert (vm["vcpus"], vm["memory_mib"], vm["boot_order"]) == (1, 256, ["cdrom", "hd"])
        assert [c["image_id"] for c in vm["cdroms"]] == [iso["id"]]
        assert vm["nics"] == []
        watch_it_run(page, vm_id)
    finally:
        remove_vm(web_admin, vm_id)


def watch_it_run(page: Page, vm_id: str) -> None:
    """The VM's live state badge turns ``running`` with no reload of the page."""
    badge = page.locator(f'[data-live="vm:{vm_id}:state"]')
    page.evaluate("window.__wizardNoReload = true")
    expect(badge.first).to_have_text("running", timeout=RUNNING_MS)
    assert page.evaluate("window.__wizardNoReload") is True
    screenshot(page, "wizard-created-running")


def test_the_apis_error_on_an_address_shows_beside_the_nic(
    page: Page,
    web_admin: httpx.Client,
    web_node: dict[str, Any],
    web_vrm: Process,
    console_errors: ConsoleErrors,
) -> None:
    name = f"{PREFIX}wiz-bad-{uuid.uuid4().hex[:6]}"
    console_errors.allow(422, r"^/api/v1/vms$")  # the address refused on purpose
    # Once in Chinese: the language cookie the language menu sets.
    page.context.add_cookies([{"name": "vrm_lang", "value": "zh_CN", "url": web_vrm.url}])
    log_in(page)
    page.goto("/vms/new")
    expect(page.get_by_role("heading", name="来源")).to_be_visible()
    screenshot(page, "wizard-zh-1-source")
    next_step(page)
    page.get_by_label("集群").select_option(web_node["cluster"])
    next_step(page)
    # The browser's own checks: memory is required, and a maximum is not below it.
    memory = page.get_by_label("内存 (MiB)", exact=True)
    memory.fill("")
    page.get_by_label("最大 vCPU 数").fill("1")
    next_step(page)
    expect(page.locator('[data-field-error="memory_mib"]')).to_have_text("此项为必填项。")
    expect(page.locator('[data-field-error="max_vcpus"]')).to_have_text("不能小于 2。")
    expect(memory).to_have_attribute("aria-invalid", "true")
    assert current_step(page) == "resources"
    screenshot(page, "wizard-zh-3-checks")
    page.get_by_label("最大 vCPU 数").fill("")
    # Enter in a field moves on, as Next does.
    memory.fill("256")
    memory.press("Enter")
    assert current_step(page) == "disks"
    next_step(page)
    page.get_by_label("指定", exact=True).check()
    page.get_by_label("地址（每个 IP 版本一个）").fill("10.0.0.300")
    screenshot(page, "wizard-zh-5-nics")
    next_step(page)
    next_step(page)
    page.get_by_label("名称", exact=True).fill(name)
    next_step(page)
    page.get_by_role("button", name="创建", exact=True).click()

    note = page.locator('[data-field-error="nics.0.ips"]')
    expect(note).to_be_visible()
    # The kind of check in Chinese (by its stable type), the API's own words after it.
    expect(note).to_contain_text("值无效")
    expect(note).to_contain_text("10.0.0.300")
    assert current_step(page) == "nics"
    expect(page.get_by_label("地址（每个 IP 版本一个）")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("地址（每个 IP 版本一个）")).to_be_focused()
    screenshot(page, "wizard-zh-error-ip")
    page.set_viewport_size({"width": 480, "height": 900})
    screenshot(page, "wizard-zh-narrow")
    assert web_admin.get("/vms", params={"name": name}).json()["total"] == 0


def test_image_and_template_sources_and_refusals_beside_their_fields(
    page: Page,
    disk_image: dict[str, Any],
    template: dict[str, Any],
    web_node: dict[str, Any],
    console_errors: ConsoleErrors,
) -> None:
    """What a disk image or a template source sends (the API's answers are stood in for:
    a refused placement, a template in use), and where those refusals show."""
    console_errors.allow(409, r"^/api/v1/vms(/[0-9a-f-]+/actions/clone)?$")
    sent: list[tuple[str, dict[str, Any]]] = []

    def refuse(route: Route) -> None:
        request = route.request
        sent.append((request.url, json.loads(request.post_data or "{}")))
        if request.url.endswith("/actions/clone"):
            error = {"code": "vm_busy", "message": "another operation runs", "details": {}}
        else:
            reasons = {"hosts": {"node-a": "memory: needs 512 MiB, 100 MiB free"}}
            error = {
                "code": "no_valid_host",
                "message": "no host can take this VM",
                "details": reasons,
            }
        route.fulfill(status=409, json={"error": error})

    page.route(re.compile(r"/api/v1/vms(/[0-9a-f-]+/actions/clone)?$"), refuse)
    log_in(page)
    page.goto("/vms/new")
    page.locator("input[name=source][value=image]").check()
    page.get_by_label("Disk image", exact=True).select_option(disk_image["id"])
    page.get_by_label("Disk from the image").select_option("linked")
    next_step(page)
    page.get_by_label("Cluster").select_option(web_node["cluster"])
    next_step(page)
    next_step(page)
    # The first disk is the image's: its size may stay empty, its datastore is the image's.
    size = page.get_by_label("Size (MiB)")
    expect(size).to_have_value("")
    expect(page.get_by_label("Datastore")).to_be_disabled()
    expect(page.get_by_role("button", name="Remove disk 1")).to_be_disabled()
    screenshot(page, "wizard-image-disks")
    # The step list jumps ahead (checking the steps on the way).
    page.get_by_role("button", name=re.compile("NICs")).click()
    page.get_by_role("button", name="Remove NIC 1").click()
    page.get_by_role("button", name=re.compile("Name and HA")).click()
    assert current_step(page) == "settings"
    page.get_by_label("Name", exact=True).fill(f"{PREFIX}wiz-img")
    next_step(page)
    page.get_by_role("button", name="Create", exact=True).click()
    note = page.locator('[data-field-error="cluster_id"]')
    expect(note).to_contain_text("node-a: memory: needs 512 MiB")
    assert current_step(page) == "placement"
    url, body = sent[-1]
    assert url.endswith("/api/v1/vms")
    assert body["disks"] == [{"bus": "virtio", "image_id": disk_image["id"], "clone": "linked"}]
    assert (body["cdroms"], body["boot_order"], body["nics"]) == ([], ["hd"], [])
    screenshot(page, "wizard-error-placement")

    page.get_by_role("button", name=re.compile("Source")).click()
    page.locator("input[name=source][value=template]").check()
    page.get_by_label("Template", exact=True).select_option(template["id"])
    # A clone takes its placement, resources, disks, NICs and cloud-init from the template.
    for step in ("Placement", "Disks", "Cloud-init"):
        expect(page.get_by_role("button", name=re.compile(step))).to_be_disabled()
    next_step(page)
    assert current_step(page) == "settings"
    next_step(page)
    expect(page.locator("[data-summary]")).not_to_contain_text("Cluster")
    page.get_by_role("button", name="Create", exact=True).click()
    expect(page.locator('[data-field-error="template_id"]')).to_be_visible()
    assert current_step(page) == "source"
    url, body = sent[-1]
    assert url.endswith(f"/api/v1/vms/{template['id']}/actions/clone")
    assert body == {"name": f"{PREFIX}wiz-img", "mode": "linked", "power_on": False}
    screenshot(page, "wizard-template-error")
