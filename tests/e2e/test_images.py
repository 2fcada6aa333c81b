"""Images end to end: uploads through VRM to a real agent on qemu:///system, imports,
disks and CD-ROMs made from images, and the serial console of a VM booted from an ISO.

One VRM and one agent serve the whole module (starting them costs seconds).
"""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import os
import shutil
import socket
import subprocess
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from websockets.sync.client import connect

from tests.cna_agent.conftest import PREFIX, TEST_MAC_PREFIX
from tests.e2e.conftest import enrolled_node, logged_in
from tests.e2e.processes import Process, start_vrm, wait_until
from tests.e2e.vmlab import domain, run, wait_task
from tests.media import READY_LINE, tiny_iso

MIB = 1024 * 1024
MAX_MIB = 64


@pytest.fixture(scope="module")
def vrm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    """One VRM for the module, with a small image size limit."""
    workdir = tmp_path_factory.mktemp("images-vrm")
    proc = start_vrm(
        workdir,
        VRM_HOST_FAULT_AFTER="30",
        VRM_JOBS_INTERVAL_S="0.5",
        VRM_MAC_PREFIX=TEST_MAC_PREFIX,
        VRM_IMAGE_MAX_MIB=str(MAX_MIB),
    )
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def admin(vrm: Process) -> Iterator[httpx.Client]:
    with logged_in(vrm) as client:
        yield client


@pytest.fixture(scope="module")
def lab(
    tmp_path_factory: pytest.TempPathFactory, vrm: Process, admin: httpx.Client
) -> Iterator[dict[str, Any]]:
    """The enrolled node, its datastore's id and the tiny ISO uploaded once."""
    with enrolled_node(tmp_path_factory.mktemp("images-node"), vrm, admin) as node:
        stores = admin.get("/datastores").json()["items"]
        node["datastore"] = stores[0]["id"]
        yield node


@pytest.fixture(scope="module")
def iso(admin: httpx.Client, lab: dict[str, Any]) -> dict[str, Any]:
    """The tiny bootable ISO, uploaded through VRM with its SHA-256."""
    path = tiny_iso()
    image = new_image(admin, "tiny", "iso", os_hint="busybox")
    answer = upload(admin, image["id"], path, sha256=sha256_of(path))
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def new_image(admin: httpx.Client, name: str, fmt: str, **extra: Any) -> dict[str, Any]:
    response = admin.post("/images", json={"name": name, "format": fmt, **extra})
    assert response.status_code == 201, response.text
    assert response.json()["task"] is None
    image: dict[str, Any] = response.json()["image"]
    assert image["state"] == "uploading"
    return image


def upload(
    admin: httpx.Client, image_id: str, path: Path, *, sha256: str | None = None
) -> httpx.Response:
    """PUT the file as the image's data, streamed (as ``curl -T`` does)."""
    params = {"sha256": sha256} if sha256 else {}
    with path.open("rb") as data:
        return admin.put(
            f"/images/{image_id}/data",
            params=params,
            content=iter(lambda: data.read(MIB), b""),
            headers={"Content-Length": str(path.stat().st_size)},
            timeout=120,
        )


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def image_files(pool_dir: Path) -> set[str]:
    """Image files (and partial ones) in the datastore's directory."""
    return {p.name for p in pool_dir.iterdir() if "img-" in p.name}


def failed_with(admin: httpx.Client, image_id: str, code: str) -> dict[str, Any]:
    image: dict[str, Any] = admin.get(f"/images/{image_id}").json()
    assert image["state"] == "failed", image
    assert image["error_code"] == code
    task = admin.get(f"/tasks/{image['task_id']}").json()
    assert (task["state"], task["error_code"]) == ("failed", code), task
    return image


def create_vm(admin: httpx.Client, lab: dict[str, Any], name: str, **body: Any) -> dict[str, Any]:
    spec = {
        "name": f"{PREFIX}{name}",
        "cluster_id": lab["cluster"],
        "vcpus": 1,
        "memory_mib": 256,
        **body,
    }
    task = run(admin, admin.post("/vms", json=spec))
    assert task["state"] == "succeeded", task
    vm: dict[str, Any] = admin.get(f"/vms/{task['target_id']}").json()
    return vm


def live_disks(vm: dict[str, Any]) -> dict[str, ET.Element]:
    root = ET.fromstring(domain(vm["uuid"]).XMLDesc(0))
    return {d.find("target").get("dev"): d for d in root.iter("disk")}  # type: ignore[union-attr]


def media_file(drive: ET.Element) -> str | None:
    """The file in a CD-ROM drive; None for an empty tray (libvirt may keep a bare
    ``<source index=...>`` after an eject)."""
    source = drive.find("source")
    return None if source is None else source.get("file")


def read_serial(vrm: Process, admin: httpx.Client, vm_id: str, until: str) -> str:
    """Text from the VM's serial console through VRM's websocket, up to ``until``."""
    ticket = admin.post(f"/vms/{vm_id}/console", json={"type": "serial"})
    assert ticket.status_code == 201, ticket.text
    url = "ws" + vrm.url.removeprefix("http") + ticket.json()["url"]
    seen = ""
    deadline = time.monotonic() + 120
    with connect(url, open_timeout=10) as ws:
        ws.send(b"\r")  # a prompt even when the line was printed before we came
        while until not in seen:
            assert time.monotonic() < deadline, f"no {until!r} on the console: {seen[-500:]!r}"
            with contextlib.suppress(TimeoutError):
                frame = ws.recv(timeout=5)
                seen += frame.decode(errors="replace") if isinstance(frame, bytes) else frame
    return seen


def test_an_uploaded_iso_boots_with_its_serial_console_and_stops(
    vrm: Process, admin: httpx.Client, lab: dict[str, Any], iso: dict[str, Any]
) -> None:
    path = tiny_iso()
    assert iso["state"] == "ready"
    assert iso["progress"] == 100
    assert iso["sha256"] == sha256_of(path)
    assert iso["size_bytes"] == path.stat().st_size
    assert (lab["pool_dir"] / f"img-{uuid.UUID(iso['id']).hex[:12]}.iso").exists()
    upload_task = admin.get(f"/tasks/{iso['task_id']}").json()
    assert upload_task["state"] == "succeeded"
    assert upload_task["progress"] == 100

    vm = create_vm(
        admin,
        lab,
        "from-iso",
        disks=[{"size_mib": 32}],
        cdroms=[{"image_id": iso["id"]}],
        boot_order=["cdrom", "hd"],
        power_on=True,
    )
    assert [c["image_id"] for c in vm["cdroms"]] == [iso["id"]]
    drive = live_disks(vm)[vm["cdroms"][0]["device"]]
    assert drive.find("boot").get("order") == "1"  # type: ignore[union-attr]
    # The guest prints the line on ttyS0 once it is up; a shell answers after it.
    text = read_serial(vrm, admin, vm["id"], READY_LINE)
    assert READY_LINE in text

    stopped = run(admin, admin.post(f"/vms/{vm['id']}/actions/stop", json={"timeout_s": 60}))
    assert stopped["state"] == "succeeded", stopped
    assert admin.get(f"/vms/{vm['id']}").json()["state"] == "stopped"
    assert not domain(vm["uuid"]).isActive()

    # Power off at once: no ACPI request, no waiting for the guest.
    assert run(admin, admin.post(f"/vms/{vm['id']}/actions/start"))["state"] == "succeeded"
    began = time.monotonic()
    off = run(admin, admin.post(f"/vms/{vm['id']}/actions/stop", json={"mode": "poweroff"}))
    assert off["state"] == "succeeded", off
    assert not domain(vm["uuid"]).isActive()
    assert time.monotonic() - began < 30
    in_use = admin.delete(f"/images/{iso['id']}")
    assert in_use.status_code == 409
    assert in_use.json()["error"]["code"] == "image_in_use"


def test_bad_uploads_answer_their_code_and_leave_nothing(
    admin: httpx.Client, lab: dict[str, Any], iso: dict[str, Any], tmp_path: Path
) -> None:
    pool_dir: Path = lab["pool_dir"]
    before = image_files(pool_dir)
    garbage = tmp_path / "garbage.bin"
    garbage.write_bytes(os.urandom(MIB))
    crafted = tmp_path / "crafted.qcow2"
    subprocess.run(
        [
            "qemu-img",
            "create",
            "-q",
            "-f",
            "qcow2",
            "-b",
            "/etc/shadow",
            "-F",
            "raw",
            str(crafted),
            "16M",
        ],
        check=True,
    )
    cases = [
        ("mismatch", "qcow2", garbage, None, 422, "image_format_mismatch"),
        ("not-iso", "iso", garbage, None, 422, "image_format_mismatch"),
        ("backing", "qcow2", crafted, None, 422, "image_backing_file"),
        ("checksum", "iso", tiny_iso(), "0" * 64, 422, "image_checksum_mismatch"),
    ]
    for name, fmt, path, sha, status, code in cases:
        image = new_image(admin, name, fmt)
        answer = upload(admin, image["id"], path, sha256=sha)
        assert answer.status_code == status, (name, answer.text)
        assert answer.json()["error"]["code"] == code, (name, answer.text)
        failed_with(admin, image["id"], code)
        assert image_files(pool_dir) == before, name

    # Streamed without a length (announced sizes are checked by VRM before any byte
    # moves: tests/vrm/images): the node stops at the limit.
    big = new_image(admin, "big", "raw")
    chunks = (b"\0" * MIB for _ in range(MAX_MIB + 2))
    streamed = admin.put(f"/images/{big['id']}/data", content=chunks, timeout=120)
    assert streamed.status_code == 422, streamed.text
    assert streamed.json()["error"]["code"] == "image_too_large"
    failed_with(admin, big["id"], "image_too_large")
    assert image_files(pool_dir) == before

    cut = new_image(admin, "cut", "raw")
    cut_upload(admin, cut["id"], announced=8 * MIB, sent=2 * MIB)
    wait_until(
        lambda: admin.get(f"/images/{cut['id']}").json()["state"] == "failed",
        timeout_s=30,
        what="the cut upload to fail",
    )
    failed_with(admin, cut["id"], "upload_interrupted")
    wait_until(lambda: image_files(pool_dir) == before, timeout_s=10, what="no partial file")
    for image in admin.get("/images", params={"state": "ready"}).json()["items"]:
        assert image["id"] == iso["id"], "no bad image is ready"


def cut_upload(admin: httpx.Client, image_id: str, *, announced: int, sent: int) -> None:
    """Start an upload announcing ``announced`` bytes, send ``sent``, then hang up."""
    base = urlsplit(str(admin.base_url))
    with socket.create_connection((base.hostname, base.port)) as sock:
        head = (
            f"PUT {base.path.rstrip('/')}/images/{image_id}/data HTTP/1.1\r\n"
            f"Host: {base.netloc}\r\n"
            f"Authorization: {admin.headers['Authorization']}\r\n"
            f"Content-Length: {announced}\r\n\r\n"
        )
        sock.sendall(head.encode() + b"\0" * sent)
        time.sleep(1.0)  # let the relay reach the node before the cut


def test_disks_and_cd_roms_from_images(
    admin: httpx.Client, lab: dict[str, Any], iso: dict[str, Any], tmp_path: Path
) -> None:
    source = tmp_path / "base.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(source), "16M"], check=True)
    base = new_image(admin, "base-disk", "qcow2")
    ready = upload(admin, base["id"], source)
    assert ready.status_code == 200, ready.text
    assert ready.json()["virtual_size_bytes"] == 16 * MIB

    vm = create_vm(
        admin,
        lab,
        "from-image",
        disks=[
            {"image_id": base["id"], "size_mib": 48},
            {"image_id": base["id"], "clone": "linked"},
        ],
        cdroms=[{}],
        power_on=True,
    )
    volumes = {d["device"]: admin.get(f"/volumes/{d['volume_id']}").json() for d in vm["disks"]}
    assert volumes["vda"]["capacity_mib"] == 48
    assert volumes["vdb"]["capacity_mib"] == 16
    disks = live_disks(vm)
    copy = disks["vda"].find("source").get("file")  # type: ignore[union-attr]
    info = subprocess.run(
        ["qemu-img", "info", "--force-share", "--output=json", copy],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert '"virtual-size": 50331648' in info
    assert "backing-filename" not in info
    linked = disks["vdb"].find("backingStore/source")
    assert linked is not None
    assert linked.get("file", "").endswith(f"img-{uuid.UUID(base['id']).hex[:12]}.qcow2")

    drive = vm["cdroms"][0]["device"]
    assert media_file(disks[drive]) is None  # an empty tray
    inserted = run(
        admin, admin.post(f"/vms/{vm['id']}/actions/insert-media", json={"image_id": iso["id"]})
    )
    assert inserted["state"] == "succeeded", inserted
    assert (media_file(live_disks(vm)[drive]) or "").endswith(".iso")
    assert admin.get(f"/vms/{vm['id']}").json()["cdroms"][0]["image_id"] == iso["id"]
    ejected = run(admin, admin.post(f"/vms/{vm['id']}/actions/eject-media"))
    assert ejected["state"] == "succeeded", ejected
    assert media_file(live_disks(vm)[drive]) is None
    assert admin.get(f"/vms/{vm['id']}").json()["cdroms"][0]["image_id"] is None
    not_iso = admin.post(f"/vms/{vm['id']}/actions/insert-media", json={"image_id": base["id"]})
    assert not_iso.status_code == 422
    assert not_iso.json()["error"]["code"] == "image_format_unsuitable"

    # A template made from the VM travels as an image.
    run(admin, admin.post(f"/vms/{vm['id']}/actions/stop", json={"mode": "poweroff"}))
    assert run(admin, admin.post(f"/vms/{vm['id']}/actions/convert-to-template"))["state"] == (
        "succeeded"
    )
    exported = admin.post(f"/vms/{vm['id']}/actions/export-image", json={"name": "golden"})
    assert exported.status_code == 202, exported.text
    task = wait_task(admin, exported.json()["task"]["id"])
    assert task["state"] == "succeeded", task
    golden = admin.get(f"/images/{exported.json()['image']['id']}").json()
    assert golden["state"] == "ready"
    assert golden["format"] == "qcow2"
    assert admin.get(f"/vms/{vm['id']}").json()["task_state"] is None  # the template is free
    assert golden["virtual_size_bytes"] == 48 * MIB
    assert golden["source"] == "template"
    busy = admin.delete(f"/images/{base['id']}")
    assert busy.status_code == 409
    assert busy.json()["error"]["code"] == "image_in_use"
    gone = admin.delete(f"/images/{golden['id']}")
    assert gone.status_code == 202
    assert wait_task(admin, gone.json()["task"]["id"])["state"] == "succeeded"
    assert admin.get(f"/images/{golden['id']}").status_code == 404
    assert f"img-{uuid.UUID(golden['id']).hex[:12]}.qcow2" not in image_files(lab["pool_dir"])


@pytest.fixture
def web_root(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A directory served over HTTP on 127.0.0.1, and its URL."""
    root = tmp_path / "www"
    root.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=str(root), **kwargs)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_imports_from_a_url_and_from_a_path(
    admin: httpx.Client, lab: dict[str, Any], web_root: tuple[Path, str]
) -> None:
    root, url = web_root
    shutil.copy(tiny_iso(), root / "tiny.iso")
    sha = sha256_of(tiny_iso())
    fetched = admin.post(
        "/images", json={"name": "by-url", "format": "iso", "url": f"{url}/tiny.iso", "sha256": sha}
    )
    assert fetched.status_code == 202, fetched.text
    assert wait_task(admin, fetched.json()["task"]["id"])["state"] == "succeeded"
    image = admin.get(f"/images/{fetched.json()['image']['id']}").json()
    assert image["state"] == "ready"
    assert image["sha256"] == sha
    assert image["source"] == "url"

    missing = admin.post("/images", json={"name": "nope", "format": "iso", "url": f"{url}/no.iso"})
    assert wait_task(admin, missing.json()["task"]["id"])["state"] == "failed"
    failed_with(admin, missing.json()["image"]["id"], "image_fetch_failed")

    dropped = lab["pool_dir"] / "dropped-in.iso"
    shutil.copy(tiny_iso(), dropped)
    dropped.chmod(0o644)
    local = admin.post("/images", json={"name": "by-path", "format": "iso", "path": str(dropped)})
    assert local.status_code == 202, local.text
    assert wait_task(admin, local.json()["task"]["id"])["state"] == "succeeded"
    assert admin.get(f"/images/{local.json()['image']['id']}").json()["sha256"] == sha
    outside = admin.post("/images", json={"name": "etc", "format": "raw", "path": "/etc/shadow"})
    assert wait_task(admin, outside.json()["task"]["id"])["state"] == "failed"
    failed_with(admin, outside.json()["image"]["id"], "image_path_outside_datastore")
