"""The VM consoles in Chromium: noVNC and xterm.js through VRM's ticketed websockets,
against the shared VRM and agent on qemu:///system (TCG guests)."""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import log_in, make_vm, remove_vm, screenshot
from tests.cna_agent.conftest import PREFIX
from tests.e2e.vmlab import run, wait_task
from tests.media import READY_LINE, tiny_iso

MIB = 1024 * 1024
# A TCG guest takes a while to boot on a shared box (ms).
BOOT_MS = 120_000
STOPPED_TEXT = "The VM is stopped: it has a console only while it runs."


def new_vm(admin: httpx.Client, node: dict[str, Any], name: str, **body: Any) -> dict[str, Any]:
    """A stopped VM on the shared node (1 vCPU)."""
    spec = {"name": f"{PREFIX}{name}", "cluster_id": node["cluster"], "vcpus": 1, **body}
    return make_vm(admin, spec)


def start(admin: httpx.Client, vm: dict[str, Any]) -> None:
    task = run(admin, admin.post(f"/vms/{vm['id']}/actions/start"))
    assert task["state"] == "succeeded", task


def power_off(admin: httpx.Client, vm: dict[str, Any]) -> None:
    """Pull the plug (the guests here have nothing to shut down gracefully)."""
    answer = admin.post(f"/vms/{vm['id']}/actions/stop", json={"mode": "poweroff"})
    if answer.status_code == 202:
        wait_task(admin, answer.json()["task"]["id"])


@pytest.fixture(scope="module")
def vms(web_admin: httpx.Client) -> Iterator[list[dict[str, Any]]]:
    """The VMs this module makes; stopped and deleted (with their disks) at its end."""
    made: list[dict[str, Any]] = []
    yield made
    for vm in made:
        remove_vm(web_admin, vm["id"])


@pytest.fixture(scope="module")
def stopped_vm(
    web_admin: httpx.Client, web_node: dict[str, Any], vms: list[dict[str, Any]]
) -> dict[str, Any]:
    """A VM that never runs."""
    vm = new_vm(web_admin, web_node, "console-off", memory_mib=128)
    vms.append(vm)
    return vm


@pytest.fixture(scope="module")
def running_vm(
    web_admin: httpx.Client, web_node: dict[str, Any], vms: list[dict[str, Any]]
) -> dict[str, Any]:
    """A running VM with a small blank disk (its screen: the firmware finding no OS)."""
    vm = new_vm(web_admin, web_node, "console-vnc", memory_mib=128, disks=[{"size_mib": 16}])
    vms.append(vm)
    start(web_admin, vm)
    return vm


@pytest.fixture(scope="module")
def tiny_image(web_admin: httpx.Client, web_node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The tiny test ISO, uploaded through VRM (deleted at the module's end)."""
    path = tiny_iso()
    made = web_admin.post("/images", json={"name": f"{PREFIX}console-tiny", "format": "iso"})
    assert made.status_code == 201, made.text
    image = made.json()["image"]
    with path.open("rb") as data:
        answer = web_admin.put(
            f"/images/{image['id']}/data",
            params={"sha256": hashlib.sha256(path.read_bytes()).hexdigest()},
            content=iter(lambda: data.read(MIB), b""),
            headers={"Content-Length": str(path.stat().st_size)},
            timeout=120,
        )
    assert answer.status_code == 200, answer.text
    yield dict(answer.json())
    with contextlib.suppress(httpx.HTTPError):
        gone = web_admin.delete(f"/images/{image['id']}")
        if gone.status_code == 202:
            wait_task(web_admin, gone.json()["task"]["id"])


def console(page: Page, vm: dict[str, Any], kind: str = "vnc") -> None:
    page.goto(f"/vms/{vm['id']}/console?type={kind}")


def test_a_stopped_vm_says_so_and_asks_for_no_ticket(
    page: Page, stopped_vm: dict[str, Any]
) -> None:
    log_in(page)
    tickets: list[str] = []
    page.on(
        "request", lambda r: r.method == "POST" and "/console" in r.url and tickets.append(r.url)
    )
    for kind in ("serial", "vnc"):
        console(page, stopped_vm, kind)
        root = page.locator("[data-console]")
        expect(root).to_have_attribute("data-state", "stopped")
        expect(page.locator("[data-console-text]")).to_have_text(STOPPED_TEXT)
        expect(page.get_by_role("button", name="Start the VM")).to_be_visible()
        expect(page.get_by_role("button", name="Reconnect")).to_be_hidden()
        expect(page.locator("[data-console-status]")).to_have_text("No console")
        page.wait_for_timeout(500)  # time for the script to ask, were it to
        expect(root).to_have_attribute("data-state", "stopped")
    assert tickets == [], "no ticket is asked for (the API would answer 409)"
    screenshot(page, "console-stopped")
    page.context.add_cookies([{"name": "vrm_lang", "value": "zh_CN", "url": page.url}])
    page.reload()
    expect(page.locator("[data-console-text]")).to_contain_text("只有运行中的虚拟机才有控制台")
    expect(page.get_by_role("button", name="启动虚拟机")).to_be_visible()
    screenshot(page, "console-stopped-zh")


def test_the_vnc_console_connects_and_takes_special_keys(
    page: Page, web_admin: httpx.Client, running_vm: dict[str, Any]
) -> None:
    log_in(page)
    console(page, running_vm)
    root = page.locator('[data-console="vnc"]')
    expect(root).to_have_attribute("data-state", "connected")
    expect(page.locator("[data-console-status]")).to_have_text("Connected")
    canvas = page.locator("[data-vnc-screen] canvas")
    expect(canvas).to_be_visible()
    width, height = canvas.evaluate("c => [c.width, c.height]")
    assert width > 0, "the guest's screen has arrived"
    assert height > 0
    page.get_by_role("button", name="Ctrl+Alt+Del").click()
    page.get_by_text("Other keys").click()
    page.get_by_role("button", name="Ctrl+Alt+F2").click()
    page.get_by_text("Type clipboard").click()
    page.get_by_label("Paste the text to type into the VM").fill("Hello, VM!\n")
    page.get_by_role("button", name="Type it").click()
    scale = page.get_by_role("button", name="Scale to window")
    scale.click()
    expect(scale).to_have_attribute("aria-pressed", "true")
    full = page.get_by_role("button", name="Full screen")
    full.click()
    leave = page.get_by_role("button", name="Leave full screen")
    expect(leave).to_have_attribute("aria-pressed", "true")
    leave.click()
    expect(full).to_have_attribute("aria-pressed", "false")
    expect(root).to_have_attribute("data-state", "connected")
    page.wait_for_timeout(1500)  # let the firmware's screen arrive for the picture
    screenshot(page, "console-vnc")
    scale.click()  # the choice is remembered in the browser: leave it off
    page.set_viewport_size({"width": 480, "height": 800})
    expect(page.get_by_role("button", name="Ctrl+Alt+Del")).to_be_in_viewport()
    screenshot(page, "console-vnc-narrow")


def test_an_exclusive_console_in_use_says_who_has_it(
    page: Page, web_admin: httpx.Client, running_vm: dict[str, Any]
) -> None:
    log_in(page)
    console(page, running_vm)
    expect(page.locator("[data-console]")).to_have_attribute("data-state", "connected")
    changed = web_admin.patch(f"/vms/{running_vm['id']}", json={"console_exclusive": True})
    assert changed.status_code == 200, changed.text
    try:
        second = page.context.new_page()
        console(second, running_vm)
        expect(second.locator("[data-console]")).to_have_attribute("data-state", "dropped")
        expect(second.locator("[data-console-text]")).to_have_text(
            "This VM's console is exclusive, and someone else is watching it."
        )
        expect(second.locator("[data-console-detail]")).to_contain_text("another viewer")
        expect(second.get_by_role("button", name="Reconnect")).to_be_visible()
        screenshot(second, "console-vnc-busy")
        page.close()  # the first viewer leaves: the console is free again
        assert reconnected(second), "Reconnect gets the console once it is free"
    finally:
        web_admin.patch(f"/vms/{running_vm['id']}", json={"console_exclusive": False})


def reconnected(page: Page, attempts: int = 5) -> bool:
    """Press Reconnect until connected (the node notices a viewer leave within a moment)."""
    root = page.locator("[data-console]")
    for _ in range(attempts):
        page.get_by_role("button", name="Reconnect").click()
        page.wait_for_function(
            "el => ['connected', 'dropped'].includes(el.dataset.state)", arg=root.element_handle()
        )
        if root.get_attribute("data-state") == "connected":
            return True
        page.wait_for_timeout(500)
    return False


def test_the_serial_console_shows_the_boot_and_takes_keys(
    page: Page,
    web_admin: httpx.Client,
    web_node: dict[str, Any],
    vms: list[dict[str, Any]],
    tiny_image: dict[str, Any],
) -> None:
    vm = new_vm(
        web_admin,
        web_node,
        "console-serial",
        memory_mib=256,
        cdroms=[{"image_id": tiny_image["id"]}],
        boot_order=["cdrom", "hd"],
    )
    vms.append(vm)
    log_in(page)
    console(page, vm, "serial")
    root = page.locator('[data-console="serial"]')
    expect(root).to_have_attribute("data-state", "stopped")
    start(web_admin, vm)  # the page hears it from the live feed and connects at once
    expect(root).to_have_attribute("data-state", "connected")
    rows = page.locator("[data-serial-screen] .xterm-rows")
    expect(rows).to_contain_text(READY_LINE, timeout=BOOT_MS)
    page.locator("[data-serial-screen]").click()
    page.keyboard.type("echo vrm$((6*7))ok")
    page.keyboard.press("Enter")
    expect(rows).to_contain_text("vrm42ok")
    screenshot(page, "console-serial")
    power_off(web_admin, vm)
    # The link drops and the page says why, in the VM's state as the API reports it.
    expect(root).to_have_attribute("data-state", "stopped")
    state = web_admin.get(f"/vms/{vm['id']}").json()["state"]
    expect(page.locator("[data-console-text]")).to_have_text(STOPPED_TEXT.replace("stopped", state))
