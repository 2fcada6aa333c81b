"""Storage pages in Chromium: datastores, volumes, and an image uploaded from the browser."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import threading
import uuid
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Page, expect

from tests.browser.conftest import ConsoleErrors, log_in, screenshot
from tests.cna_agent.conftest import PREFIX
from tests.e2e.processes import Process

MIB = 1024 * 1024


def test_upload_an_image_from_the_browser_then_delete_it(
    page: Page, web_node: dict[str, Any], web_admin: httpx.Client, tmp_path: Path
) -> None:
    data = os.urandom(MIB)
    path = tmp_path / "disk.raw"
    path.write_bytes(data)
    name = f"{PREFIX}img-{uuid.uuid4().hex[:6]}"
    log_in(page)
    page.goto("/storage/images")
    form = page.locator("form[data-upload-form]")
    form.get_by_label("File").set_input_files(path)
    # The name and format are guessed from the file; the name is ours.
    expect(form.get_by_label("Format")).to_have_value("raw")
    form.get_by_label("Name", exact=True).fill(name)
    form.get_by_label("OS hint").fill("linux")
    form.get_by_role("button", name="Upload").click()
    expect(form.locator("[data-upload-status]")).to_have_text(f"Ready: {name}")
    expect(form.locator("[data-upload-progress]")).to_have_js_property("value", 100)
    row = page.locator("tr[data-image-id]", has_text=name)
    image_id = row.get_attribute("data-image-id")
    try:
        expect(row.locator('[data-f="state"]')).to_have_text("ready")
        expect(row.locator('[data-f="sha256"]')).to_have_text(hashlib.sha256(data).hexdigest())
        expect(row.locator('[data-f="size"]')).to_have_text("1.0 MiB")
        expect(row.locator('[data-f="datastore"]')).to_contain_text(web_node["pool"])
        screenshot(page, "storage-images")
        # After a reload the server renders the same row.
        page.reload()
        expect(row.locator('[data-f="sha256"]')).to_have_text(hashlib.sha256(data).hexdigest())
        # Delete it, with the confirmation: the row goes when its task has removed the file.
        row.get_by_role("button", name="Delete").click()
        page.get_by_role("dialog").get_by_role("button", name="Delete").click()
        # A loaded machine may take a while to run the task.
        expect(row).to_have_count(0, timeout=30_000)
    finally:
        if image_id and web_admin.get(f"/images/{image_id}").status_code == 200:
            web_admin.delete(f"/images/{image_id}")
    assert web_admin.get(f"/images/{image_id}").status_code == 404


def test_an_upload_the_node_refuses_shows_the_reason(
    page: Page,
    web_node: dict[str, Any],
    web_admin: httpx.Client,
    tmp_path: Path,
    console_errors: ConsoleErrors,
) -> None:
    console_errors.allow(422, r"^/api/v1/images/[0-9a-f-]+/data$")
    path = tmp_path / "not-an.iso"
    path.write_bytes(os.urandom(64 * 1024))
    name = f"{PREFIX}bad-{uuid.uuid4().hex[:6]}"
    log_in(page)
    page.goto("/storage/images")
    form = page.locator("form[data-upload-form]")
    form.get_by_label("File").set_input_files(path)
    expect(form.get_by_label("Format")).to_have_value("iso")
    form.get_by_label("Name", exact=True).fill(name)
    form.get_by_role("button", name="Upload").click()
    status = form.locator("[data-upload-status]")
    expect(status).to_contain_text("failed: ")
    row = page.locator("tr[data-image-id]", has_text=name)
    image_id = row.get_attribute("data-image-id")
    try:
        expect(row.locator('[data-f="state"]')).to_have_text("failed")
        expect(row.locator('[data-f="error"]')).to_contain_text("image_format_mismatch: ")
        expect(row.locator('[data-f="error"]')).to_be_visible()
        screenshot(page, "storage-images-failed")
    finally:
        if image_id:
            web_admin.delete(f"/images/{image_id}")


@contextlib.contextmanager
def served(folder: Path) -> Iterator[str]:
    """``folder`` over HTTP on 127.0.0.1 (the node fetches imports itself); its base URL."""
    handler = functools.partial(QuietHandler, directory=str(folder))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class QuietHandler(SimpleHTTPRequestHandler):
    """A file server that does not log every request to stderr."""

    def log_message(self, format: str, *args: Any) -> None:
        """Nothing."""


def test_import_an_image_from_a_url(
    page: Page, web_node: dict[str, Any], web_admin: httpx.Client, tmp_path: Path
) -> None:
    data = os.urandom(256 * 1024)
    (tmp_path / "cloud.raw").write_bytes(data)
    name = f"{PREFIX}url-{uuid.uuid4().hex[:6]}"
    log_in(page)
    page.goto("/storage/images")
    form = page.locator('form[data-api-form="POST /images"]')
    with served(tmp_path) as base:
        form.get_by_label("URL").fill(f"{base}/cloud.raw")
        form.get_by_label("Name", exact=True).fill(name)
        form.get_by_label("Format").select_option("raw")
        form.get_by_role("button", name="Import").click()
        row = page.locator("tr[data-image-id]", has_text=name)
        # The page reloads with the new row; its task's end brings the image's final state.
        expect(row.locator('[data-f="state"]')).to_have_text("ready")
    image_id = row.get_attribute("data-image-id")
    try:
        expect(row.locator('[data-f="sha256"]')).to_have_text(hashlib.sha256(data).hexdigest())
    finally:
        web_admin.delete(f"/images/{image_id}")


def test_datastores_and_volumes_in_both_languages(
    page: Page, web_node: dict[str, Any], web_vrm: Process
) -> None:
    log_in(page)
    page.goto("/storage")
    # The agent's local datastore, reached by its host, with its capacity reported.
    row = page.locator("tr[data-datastore-id]", has_text=web_node["pool"])
    expect(row).to_have_count(1)
    expect(row).to_contain_text(f"{PREFIX}node")
    expect(row.locator("[data-capacity]")).not_to_have_text("—")
    screenshot(page, "storage-datastores")
    row.get_by_role("link").last.click()
    expect(page.get_by_role("heading", name="Storage")).to_be_visible()
    assert "datastore_id=" in page.url
    screenshot(page, "storage-volumes")
    page.context.add_cookies([{"name": "vrm_lang", "value": "zh_CN", "url": web_vrm.url}])
    page.goto("/storage/images")
    expect(page.get_by_role("heading", name="从本机上传镜像")).to_be_visible()
    expect(page.get_by_role("link", name="数据存储")).to_be_visible()
    screenshot(page, "storage-images-zh")
    page.set_viewport_size({"width": 420, "height": 900})
    page.goto("/storage")
    screenshot(page, "storage-datastores-narrow")
