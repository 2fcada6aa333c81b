"""The image API on the real qemu:///system: uploads, imports with progress, images as
volumes, and volume copies across pools (converted, grown)."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator, MutableMapping
from pathlib import Path
from typing import Any

import anyio
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from cna_agent.api.app import create_app
from cna_agent.config import Settings
from cna_agent.node import Node
from cna_agent.operations import Operations, Progress
from cna_agent.protocol import OperationState
from cna_agent.state import Identity, hash_credential
from cna_agent.virt.connection import Hypervisor
from tests.cna_agent.conftest import PREFIX
from tests.cna_agent.images.helpers import (
    MIB,
    http_server,
    leftovers,
    make_iso,
    qemu_img_create,
    sha256_of,
)
from tests.helpers import error_of

CREDENTIAL = "cnav_image-test"
AUTH = {"Authorization": f"Bearer {CREDENTIAL}"}


@pytest.fixture
def base_dir() -> Iterator[Path]:
    """A folder QEMU (another user) can reach; pytest's own tmp folders are 0700."""
    path = Path("/var/tmp") / f"{PREFIX}{uuid.uuid4().hex[:8]}"
    path.mkdir(mode=0o755)
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def app(base_dir: Path, qemu_hv: Hypervisor) -> Iterator[FastAPI]:
    settings = Settings(
        libvirt_uri="qemu:///system",
        state_dir=base_dir / "state",
        default_pool=f"{PREFIX}default-{base_dir.name[-8:]}",
    )
    node = Node(settings)
    ident = Identity(
        vrm_url="http://127.0.0.1:9",
        host_id=uuid.uuid4(),
        cluster_id=uuid.uuid4(),
        host_credential="cnah_x",
        vrm_credential_sha256=hash_credential(CREDENTIAL),
    )
    yield create_app(node, lambda: ident)
    node.close()


@pytest.fixture
def api(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as client:
        client.headers.update(AUTH)
        yield client


def make_pool(api: TestClient, base_dir: Path, kind: str) -> tuple[str, Path]:
    name = f"{PREFIX}{kind}-{base_dir.name[-8:]}"
    directory = base_dir / kind
    ok(api.put(f"/v1/pools/{name}", json={"name": name, "path": str(directory)}))
    return name, directory


@pytest.fixture
def pool(api: TestClient, base_dir: Path) -> tuple[str, Path]:
    return make_pool(api, base_dir, "images")


def ok(response: Any, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json() if response.content else {}
    return body


def wait_op(api: TestClient, op: dict[str, Any]) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while op["state"] == "running" and time.monotonic() < deadline:
        time.sleep(0.05)
        op = ok(api.get(f"/v1/operations/{op['id']}"))
    return op


def put_data(api: TestClient, pool: str, name: str, body: bytes, **params: Any) -> Any:
    query = {"format": "raw", "max_bytes": 64 * MIB, **params}
    return api.put(f"/v1/pools/{pool}/images/{name}/data", params=query, content=body)


# --- uploads ------------------------------------------------------------------------


def test_an_uploaded_iso_is_a_volume_of_its_pool(
    api: TestClient, pool: tuple[str, Path], tmp_path: Path
) -> None:
    name, directory = pool
    iso = make_iso(tmp_path / "media.iso").read_bytes()
    digest = sha256_of(iso)
    report = ok(put_data(api, name, "media", iso, format="iso", sha256=digest))
    assert report == {
        "name": "media",
        "pool": name,
        "path": str(directory / "media"),
        "format": "iso",
        "size_bytes": len(iso),
        "virtual_size_bytes": len(iso),
        "sha256": digest,
    }
    assert ok(put_data(api, name, "media", iso, format="iso", sha256=digest)) == report
    volume = ok(api.get(f"/v1/pools/{name}/volumes/media"))
    assert (volume["format"], volume["path"]) == ("iso", str(directory / "media"))
    ok(api.delete(f"/v1/pools/{name}/volumes/media"), 204)
    assert leftovers(directory) == []
    assert api.get(f"/v1/pools/{name}/volumes/media").status_code == 404


def test_refused_uploads_leave_nothing(
    api: TestClient, pool: tuple[str, Path], tmp_path: Path
) -> None:
    name, directory = pool
    qcow2 = qemu_img_create(tmp_path / "disk.qcow2", "qcow2").read_bytes()
    cases = [
        (put_data(api, name, "a", qcow2), 422, "image_format_mismatch"),
        (put_data(api, name, "a", qcow2, format="iso"), 422, "image_format_mismatch"),
        (put_data(api, name, "a", b"x" * 4096, sha256="ab" * 32), 422, "image_checksum_mismatch"),
        (put_data(api, name, "a", b"x" * 4096, max_bytes=4095), 422, "image_too_large"),
        (put_data(api, name, "a", b"x", sha256="not-hex"), 422, "invalid_spec"),
        (put_data(api, name, "a", b"x", max_bytes=0), 422, "invalid_spec"),
        (put_data(api, name, ".hidden", b"x"), 422, "invalid_spec"),
        (put_data(api, f"{PREFIX}nope", "a", b"x"), 404, "pool_not_found"),
    ]
    for response, status, code in cases:
        assert error_of(response, status)["code"] == code, response.text
    no_format = api.put(f"/v1/pools/{name}/images/a/data", params={"max_bytes": 9}, content=b"x")
    assert error_of(no_format, 422)["code"] == "invalid_spec"
    short = api.put(
        f"/v1/pools/{name}/images/a/data",
        params={"format": "raw", "max_bytes": MIB},
        content=b"x" * 1000,
        headers={"Content-Length": "2000"},
    )
    error = error_of(short, 400)
    assert (error["code"], error["details"]["retryable"]) == ("upload_interrupted", True)
    assert leftovers(directory) == []


def test_uploads_need_vrms_credential(app: FastAPI, pool: tuple[str, Path]) -> None:
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.put(
            f"/v1/pools/{pool[0]}/images/a/data",
            params={"format": "raw", "max_bytes": 10},
            content=b"x",
        )
    assert error_of(response, 401)["code"] == "unauthenticated"
    assert leftovers(pool[1]) == []


def test_a_client_that_goes_away_leaves_nothing(app: FastAPI, pool: tuple[str, Path]) -> None:
    name, directory = pool
    sent: list[MutableMapping[str, Any]] = []
    seen_partial: list[bool] = []

    async def receive() -> dict[str, Any]:
        if len(seen_partial) < 3:
            await anyio.sleep(0.05)
            seen_partial.append(any(p.name.endswith(".part") for p in directory.iterdir()))
            return {"type": "http.request", "body": b"x" * (4 * MIB + 1), "more_body": True}
        return {"type": "http.disconnect"}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "PUT",
        "scheme": "http",
        "path": f"/v1/pools/{name}/images/cut/data",
        "raw_path": f"/v1/pools/{name}/images/cut/data".encode(),
        "query_string": f"format=raw&max_bytes={64 * MIB}".encode(),
        "headers": [(b"authorization", AUTH["Authorization"].encode())],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 7070),
    }
    anyio.run(app, scope, receive, send)
    assert seen_partial[-1], "the upload was under way"
    assert sent[0]["status"] == 400
    assert json.loads(sent[1]["body"])["error"]["code"] == "upload_interrupted"
    assert leftovers(directory) == []


# --- imports --------------------------------------------------------------------------


def test_imports_from_a_url_and_from_a_path(
    api: TestClient, pool: tuple[str, Path], tmp_path: Path
) -> None:
    name, directory = pool
    data = bytes(range(256)) * (40 * MIB // 256)
    with http_server({"/image": data}) as base:
        body = {"format": "raw", "url": f"{base}/image", "max_bytes": 64 * MIB}
        op = ok(api.post(f"/v1/pools/{name}/images/fetched/import", json=body), 202)
        assert (op["kind"], op["target"], op["progress"]) == ("import_image", f"{name}/fetched", 0)
        done = wait_op(api, op)
        missing = {**body, "url": f"{base}/nope"}
        failed = wait_op(api, ok(api.post(f"/v1/pools/{name}/images/x/import", json=missing), 202))
    assert (done["state"], done["progress"]) == ("succeeded", 100), done
    assert done["result"]["sha256"] == sha256_of(data)
    assert failed["state"] == "failed"
    assert failed["error"]["code"] == "image_fetch_failed"
    assert failed["error"]["details"]["status"] == 404

    (directory / "incoming").mkdir()
    iso = make_iso(directory / "incoming" / "up.iso")
    by_path = {"format": "iso", "path": str(iso), "max_bytes": MIB, "sha256": sha256_of(iso)}
    copied = wait_op(api, ok(api.post(f"/v1/pools/{name}/images/media/import", json=by_path), 202))
    assert copied["state"] == "succeeded", copied
    outside = {**by_path, "path": str(tmp_path)}
    refused = wait_op(api, ok(api.post(f"/v1/pools/{name}/images/y/import", json=outside), 202))
    assert refused["error"]["code"] == "image_path_outside_datastore"
    assert leftovers(directory) == ["fetched", "incoming", "media"]

    unknown = api.post(f"/v1/pools/{PREFIX}nope/images/z/import", json=by_path)
    assert error_of(unknown, 404)["code"] == "pool_not_found"
    two_sources = {**by_path, "url": "http://127.0.0.1:9/x"}
    bad = api.post(f"/v1/pools/{name}/images/z/import", json=two_sources)
    assert error_of(bad, 422)["code"] == "invalid_spec"


def test_a_volume_becomes_an_image_flattened(
    api: TestClient, pool: tuple[str, Path], base_dir: Path
) -> None:
    name, directory = pool
    disks, disks_dir = make_pool(api, base_dir, "disks")
    ok(api.put(f"/v1/pools/{disks}/volumes/base", json={"name": "base", "capacity_mib": 16}))
    linked = {"name": "vm1", "capacity_mib": 16, "backing_volume": "base"}
    ok(api.put(f"/v1/pools/{disks}/volumes/vm1", json=linked))
    source = {"pool": disks, "volume": "vm1"}
    for fmt in ("qcow2", "raw"):
        body = {"format": fmt, "volume": source, "max_bytes": 64 * MIB}
        op = wait_op(api, ok(api.post(f"/v1/pools/{name}/images/t-{fmt}/import", json=body), 202))
        assert op["state"] == "succeeded", op
        assert op["result"]["virtual_size_bytes"] == 16 * MIB
        info = qemu_info(directory / f"t-{fmt}")
        assert info["format"] == fmt
        assert "backing-filename" not in info
    small = {"format": "raw", "volume": source, "max_bytes": MIB}
    op = wait_op(api, ok(api.post(f"/v1/pools/{name}/images/small/import", json=small), 202))
    assert op["error"]["code"] == "image_too_large"
    assert leftovers(directory) == ["t-qcow2", "t-raw"]
    assert sorted(v["name"] for v in ok_list(api.get(f"/v1/pools/{name}/volumes"))) == [
        "t-qcow2",
        "t-raw",
    ]
    assert leftovers(disks_dir) == ["base", "vm1"]


def test_a_volume_backed_by_a_file_outside_the_pools_is_refused(
    api: TestClient, pool: tuple[str, Path], base_dir: Path, qemu_hv: Hypervisor
) -> None:
    # What a guest could do to a raw disk that libvirt then probes as qcow2.
    name, directory = pool
    secret = base_dir / "state" / "secret"
    secret.parent.mkdir(exist_ok=True)
    secret.write_bytes(b"node secret\n" * 512)
    qemu_img_create(directory / "crafted", "qcow2", "4M", "-b", str(secret), "-F", "raw")
    qemu_hv.conn.storagePoolLookupByName(name).refresh(0)
    body = {"format": "raw", "volume": {"pool": name, "volume": "crafted"}, "max_bytes": MIB * 8}
    op = wait_op(api, ok(api.post(f"/v1/pools/{name}/images/leak/import", json=body), 202))
    assert op["error"]["code"] == "image_path_outside_datastore"
    assert leftovers(directory) == ["crafted"]


def qemu_info(path: Path) -> dict[str, Any]:
    out = subprocess.run(
        ["qemu-img", "info", "-U", "--output=json", str(path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    info: dict[str, Any] = json.loads(out)
    return info


def ok_list(response: Any) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()
    return items


# --- volume copies ----------------------------------------------------------------------


def test_a_volume_copied_into_another_pool_converted_and_grown(
    api: TestClient, pool: tuple[str, Path], base_dir: Path
) -> None:
    name, _ = pool
    other, other_dir = make_pool(api, base_dir, "other")
    ok(
        api.put(
            f"/v1/pools/{name}/volumes/src",
            json={"name": "src", "capacity_mib": 8, "format": "raw"},
        )
    )
    clone = {"name": "copy", "pool": other, "format": "qcow2", "capacity_mib": 24}
    url = f"/v1/pools/{name}/volumes/src/clone"
    op = wait_op(api, ok(api.post(url, json=clone), 202))
    assert op["state"] == "succeeded", op
    assert (op["result"]["pool"], op["result"]["format"], op["result"]["capacity_mib"]) == (
        other,
        "qcow2",
        24,
    )
    assert qemu_info(other_dir / "copy")["virtual-size"] == 24 * MIB
    assert wait_op(api, ok(api.post(url, json=clone), 202))["result"] == op["result"]
    shrink = {"name": "tiny", "capacity_mib": 4}
    failed = wait_op(api, ok(api.post(url, json=shrink), 202))
    assert failed["error"]["code"] == "volume_shrink"
    plain = wait_op(api, ok(api.post(url, json={"name": "same"}), 202))
    assert (plain["result"]["pool"], plain["result"]["format"]) == (name, "raw")
    assert plain["result"]["capacity_mib"] == 8


# --- operations -----------------------------------------------------------------------


def test_operations_report_progress() -> None:
    operations = Operations(workers=1)
    halfway, release = threading.Event(), threading.Event()

    def work(progress: Progress) -> dict[str, object]:
        progress(42)
        halfway.set()
        release.wait(5)
        progress(250)  # clamped
        return {"done": True}

    op = operations.submit_tracked("test", "t", work)
    assert halfway.wait(5)
    assert operations.get(op.id).progress == 42
    release.set()
    operations.shutdown()
    finished = operations.get(op.id)
    assert (finished.state, finished.progress, finished.result) == (
        OperationState.SUCCEEDED,
        100,
        {"done": True},
    )
