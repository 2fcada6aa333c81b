"""Browser tests: Debian's Chromium driven by Playwright against a real VRM and agent.

One Chromium and one VRM with an enrolled agent on qemu:///system for the whole browser
package (they take seconds to start), ended with it: Playwright's sync API keeps an
event loop running in the main thread while it lives, which would break every later
test that calls ``asyncio.run``. Every test gets a fresh browser context (no cookies),
and fails if any page it opened logged an error.
Screenshots go to var/artifacts/screenshots/ (git-ignored).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, sync_playwright

from tests.cna_agent.conftest import TEST_MAC_PREFIX
from tests.e2e.conftest import enrolled_node, logged_in
from tests.e2e.processes import ADMIN_PASSWORD, Process, start_vrm, wait_until
from tests.e2e.vmlab import run

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "artifacts" / "screenshots"
# Playwright's waits for things a page shows (ms): generous, the box is shared.
TIMEOUT_MS = 20_000


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless (never a browser Playwright downloads)."""
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="package")
def web_vrm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    """A VRM process the browser tests share."""
    proc = start_vrm(
        tmp_path_factory.mktemp("web-vrm"),
        VRM_HOST_FAULT_AFTER="30",
        VRM_JOBS_INTERVAL_S="0.5",
        VRM_MAC_PREFIX=TEST_MAC_PREFIX,
    )
    yield proc
    proc.stop()


@pytest.fixture(scope="package")
def web_admin(web_vrm: Process) -> Iterator[httpx.Client]:
    """An API client of the shared VRM, logged in as admin (to arrange what pages show)."""
    with logged_in(web_vrm) as client:
        yield client


@pytest.fixture(scope="package")
def web_node(
    tmp_path_factory: pytest.TempPathFactory, web_vrm: Process, web_admin: httpx.Client
) -> Iterator[dict[str, Any]]:
    """An agent on qemu:///system enrolled into the shared VRM, with a VLAN port group.

    Its cluster overcommits CPU and memory: every browser test places its small guests
    on this one 2-core node.
    """
    with enrolled_node(tmp_path_factory.mktemp("web-node"), web_vrm, web_admin) as lab:
        ratios = {"cpu_overcommit": 8.0, "mem_overcommit": 2.0}
        changed = web_admin.patch(f"/clusters/{lab['cluster']}", json=ratios)
        assert changed.status_code == 200, changed.text
        # VMs can be placed once the new host has reported its datastore.
        wait_until(
            lambda: any(
                store["host_ids"] for store in web_admin.get("/datastores").json()["items"]
            ),
            timeout_s=30,
            what="the node's datastore",
        )
        yield lab


def make_vm(admin: httpx.Client, spec: dict[str, Any]) -> dict[str, Any]:
    """Create a VM through the API and wait for its task; the VM as it is then."""
    task = run(admin, admin.post("/vms", json=spec))
    assert task["state"] == "succeeded", task
    vm: dict[str, Any] = admin.get(f"/vms/{task['target_id']}").json()
    return vm


def remove_vm(admin: httpx.Client, vm_id: str) -> None:
    """Power a VM off and delete it with its disks, once its current task has ended (a VM
    whose creation failed is gone already)."""

    def idle() -> dict[str, Any] | None:
        answer = admin.get(f"/vms/{vm_id}")
        if answer.status_code == 404:
            return {"state": "gone"}
        vm: dict[str, Any] = answer.json()
        return vm if vm["task_state"] is None else None

    state = wait_until(idle, timeout_s=180, what="the VM's task to end")["state"]
    if state == "gone":
        return
    if state in ("running", "paused", "unknown", "fault"):
        run(admin, admin.post(f"/vms/{vm_id}/actions/stop", json={"mode": "poweroff"}))
    assert (
        run(admin, admin.delete(f"/vms/{vm_id}", params={"delete_volumes": "true"}))["state"]
        == "succeeded"
    )


class ConsoleErrors:
    """What the pages of one test wrote to the browser console as errors.

    Chromium logs every 4xx answer to a page's ``fetch`` as "Failed to load resource",
    even when the page shows the refusal as it should (a field error, a refused bulk
    delete). A test that provokes such a refusal on purpose declares it with ``allow``;
    every other console error fails the test.
    """

    def __init__(self) -> None:
        self.errors: list[str] = []
        self._allowed: list[tuple[int, re.Pattern[str]]] = []

    def allow(self, status: int, path: str) -> None:
        """Expect API refusals with ``status`` on URLs whose path matches ``path`` (a regex)."""
        self._allowed.append((status, re.compile(path)))

    def watch(self, page: Page) -> None:
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.errors.append(f"{page.url}: {error}"))

    def _console(self, message: ConsoleMessage) -> None:
        url = message.location.get("url", "")
        if message.type == "error" and not self._expected(url, message.text):
            self.errors.append(f"{url}: {message.text}")

    def _expected(self, url: str, text: str) -> bool:
        status = re.search(r"Failed to load resource: .* status of (\d{3})", text)
        path = urlsplit(url).path
        return bool(
            status
            and path.startswith("/api/v1/")
            and any(
                int(status.group(1)) == code and pattern.search(path)
                for code, pattern in self._allowed
            )
        )


@pytest.fixture
def context(browser: Browser, web_vrm: Process) -> Iterator[BrowserContext]:
    """A fresh browser context (no cookies) whose base URL is the shared VRM."""
    ctx = browser.new_context(base_url=web_vrm.url, viewport={"width": 1366, "height": 768})
    ctx.set_default_timeout(TIMEOUT_MS)
    yield ctx
    ctx.close()


@pytest.fixture
def console_errors() -> ConsoleErrors:
    """The console errors of the test's pages (checked after the test)."""
    return ConsoleErrors()


@pytest.fixture
def page(context: BrowserContext, console_errors: ConsoleErrors) -> Iterator[Page]:
    """A page of a fresh context; the test fails if any page logged a console error."""
    context.on("page", console_errors.watch)
    tab = context.new_page()
    yield tab
    assert console_errors.errors == [], console_errors.errors


def log_in(page: Page, username: str = "admin", password: str = ADMIN_PASSWORD) -> None:
    """Log in through the login form and wait for the dashboard."""
    page.goto("/login")
    page.get_by_label(re.compile("User name|用户名")).fill(username)
    page.get_by_label(re.compile("^(Password|密码)$")).fill(password)
    page.get_by_role("button", name=re.compile("Log in|登录")).click()
    page.locator("body[data-user]").wait_for(state="attached")


def screenshot(page: Page, name: str) -> Path:
    """A full-page screenshot in var/artifacts/screenshots/NAME.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
