"""The agent's media, stop and console endpoints over libvirt's test driver: what needs
no real guest (refusals, error codes, which libvirt call a stop makes)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from cna_agent.api.app import create_app
from cna_agent.config import Settings
from cna_agent.node import Node
from cna_agent.protocol import DiskSpec, DomainSpec
from cna_agent.protocol.consoles import CONSOLE_WS_PATH, ConsoleClose
from cna_agent.state import Identity, hash_credential
from tests.helpers import error_of

CREDENTIAL = "cnav_console-api-test"
CDROM = DiskSpec(device="hdc", bus="ide", kind="cdrom", format="raw", readonly=True)


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    node = Node(Settings(libvirt_uri="test:///default", state_dir=tmp_path, domain_type="auto"))
    yield node
    node.close()


def identity() -> Identity:
    return Identity(
        vrm_url="http://127.0.0.1:1",
        host_id=uuid.uuid4(),
        cluster_id=uuid.uuid4(),
        host_credential="cnah_x",
        vrm_credential_sha256=hash_credential(CREDENTIAL),
    )


@pytest.fixture
def api(node: Node) -> Iterator[TestClient]:
    with TestClient(create_app(node, identity), raise_server_exceptions=False) as client:
        client.headers["Authorization"] = f"Bearer {CREDENTIAL}"
        yield client


def define(api: TestClient, *, start: bool, **fields: Any) -> str:
    spec = DomainSpec(
        uuid=uuid.uuid4(),
        name=f"ovrmtest-{uuid.uuid4().hex[:6]}",
        vcpus=1,
        max_vcpus=1,
        memory_mib=64,
        max_memory_mib=64,
        **fields,
    )
    vm = str(spec.uuid)
    assert api.put(f"/v1/vms/{vm}", json=spec.model_dump(mode="json")).status_code == 200
    if start:
        assert api.post(f"/v1/vms/{vm}/start").status_code == 200
    return vm


def closed_with(client: TestClient, vm: str, headers: dict[str, str], **query: str) -> Any:
    """The close code and reason the agent answers a console websocket with."""
    params = "&".join(f"{key}={value}" for key, value in query.items())
    path = CONSOLE_WS_PATH.format(uuid=vm) + (f"?{params}" if params else "")
    with (
        client.websocket_connect(path, headers=headers) as ws,
        pytest.raises(WebSocketDisconnect) as closed,
    ):
        ws.receive_bytes()
    return closed.value.code, closed.value.reason


def test_forced_stop_without_time_powers_off_at_once(
    api: TestClient, node: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    vm = define(api, start=True)

    def no_acpi(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("timeout_s 0 with force must not ask the guest")

    monkeypatch.setattr(node.domains, "shutdown", no_acpi)
    op = api.post(f"/v1/vms/{vm}/stop", json={"force": True, "timeout_s": 0}).json()
    deadline = time.monotonic() + 10
    while op["state"] == "running" and time.monotonic() < deadline:
        time.sleep(0.01)
        op = api.get(f"/v1/operations/{op['id']}").json()
    assert op["state"] == "succeeded", op
    assert api.get(f"/v1/vms/{vm}").json()["state"] == "shutoff"
    refused = api.post(f"/v1/vms/{vm}/stop", json={"timeout_s": 0})
    assert error_of(refused, 422)["code"] == "invalid_spec"


def test_media_errors(api: TestClient) -> None:
    vm = define(api, start=False, disks=[CDROM])
    eject = {"pool": None, "volume": None}
    unknown = api.put(f"/v1/vms/{vm}/media/hdz", json=eject)
    assert error_of(unknown, 404)["code"] == "device_not_found"
    gone = api.put(f"/v1/vms/{uuid.uuid4()}/media/hdc", json=eject)
    assert error_of(gone, 404)["code"] == "domain_not_found"
    no_pool = api.put(f"/v1/vms/{vm}/media/hdc", json={"pool": "nope", "volume": "x.iso"})
    assert error_of(no_pool, 404)["code"] == "pool_not_found"
    half = api.put(f"/v1/vms/{vm}/media/hdc", json={"pool": "nope"})
    assert error_of(half, 422)["code"] == "invalid_spec"


def test_media_of_a_disk_is_409(api: TestClient, node: Node) -> None:
    pool = node.default_pool()
    assert api.put(f"/v1/pools/{pool.name}", json=pool.model_dump(mode="json")).status_code == 200
    volume = {"name": "root", "capacity_mib": 16}
    assert api.put(f"/v1/pools/{pool.name}/volumes/root", json=volume).status_code == 200
    disk = DiskSpec(device="vda", pool=pool.name, volume="root")
    vm = define(api, start=False, disks=[disk, CDROM])
    refused = api.put(f"/v1/vms/{vm}/media/vda", json={})
    assert error_of(refused, 409)["code"] == "not_a_cdrom"


def test_console_info_errors(api: TestClient) -> None:
    vm = define(api, start=False)
    assert error_of(api.get(f"/v1/vms/{vm}/console"), 409)["code"] == "state_conflict"
    assert error_of(api.get(f"/v1/vms/{uuid.uuid4()}/console"), 404)["code"] == "domain_not_found"


def test_console_websocket_checks_vrms_credential(node: Node) -> None:
    vm = str(uuid.uuid4())
    good = {"Authorization": f"Bearer {CREDENTIAL}"}
    with TestClient(create_app(node, lambda: None)) as client:
        assert closed_with(client, vm, good) == (
            ConsoleClose.UNAUTHENTICATED,
            "this agent is not enrolled yet",
        )
    with TestClient(create_app(node, identity)) as client:
        for headers in ({}, {"Authorization": "Bearer cnav_wrong"}):
            assert closed_with(client, vm, headers) == (
                ConsoleClose.UNAUTHENTICATED,
                "missing or wrong VRM credential",
            )
        assert closed_with(client, vm, good)[0] == ConsoleClose.NOT_FOUND


def test_console_websocket_refusals(api: TestClient) -> None:
    good = {"Authorization": f"Bearer {CREDENTIAL}"}
    stopped = define(api, start=False)
    assert closed_with(api, stopped, good, type="serial") == (
        ConsoleClose.NOT_RUNNING,
        "the VM is not running",
    )
    running = define(api, start=True)  # the test driver: no VNC socket, no serial pty
    for kind in ("vnc", "serial"):
        code, _reason = closed_with(api, running, good, type=kind)
        assert code == ConsoleClose.NOT_FOUND
    assert closed_with(api, running, good, exclusive="maybe")[0] == ConsoleClose.NOT_FOUND
