"""A real agent (uvicorn with the websockets sans-I/O protocol, as ``cna-agent run``
serves it) on 127.0.0.1 over qemu:///system, in a thread of the test process."""

from __future__ import annotations

import contextlib
import shutil
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import libvirt
import pytest
import uvicorn

from cna_agent.api.app import create_app
from cna_agent.config import Settings
from cna_agent.node import Node
from cna_agent.protocol import ConsoleSpec, DiskSpec, DomainSpec
from cna_agent.protocol.consoles import CONSOLE_WS_PATH
from cna_agent.state import Identity, hash_credential
from tests.cna_agent.conftest import PREFIX, _cleanup
from tests.e2e.processes import free_port

CREDENTIAL = "cnav_served-agent-test"


@dataclass
class ServedAgent:
    """The agent under test: its URL, its node, a pool of its own and an HTTP client."""

    url: str
    node: Node
    pool: str
    pool_dir: Path
    http: httpx.Client

    def ws_url(self, vm: uuid.UUID | str, **query: str) -> str:
        """The console websocket URL of a VM."""
        path = CONSOLE_WS_PATH.format(uuid=vm)
        params = "&".join(f"{key}={value}" for key, value in query.items())
        return self.url.replace("http://", "ws://") + path + (f"?{params}" if params else "")

    def ok(self, response: httpx.Response, status: int = 200) -> Any:
        """The JSON body of a response that must have ``status``."""
        assert response.status_code == status, response.text
        return response.json() if response.content else None

    def run_vm(self, *, start: bool = True, **fields: Any) -> uuid.UUID:
        """Define (and start) a small TCG domain through the API."""
        spec = vm_spec(**fields)
        self.ok(self.http.put(f"/v1/vms/{spec.uuid}", json=spec.model_dump(mode="json")))
        if start:
            self.ok(self.http.post(f"/v1/vms/{spec.uuid}/start"))
        return spec.uuid

    def live_xml(self, vm: uuid.UUID) -> ET.Element:
        """The domain's live XML, straight from libvirt."""
        return ET.fromstring(self.node.hv.conn.lookupByUUIDString(str(vm)).XMLDesc(0))


def vm_spec(**fields: Any) -> DomainSpec:
    """64 MiB, one vCPU, an empty IDE CD-ROM and a VNC console unless told otherwise."""
    base: dict[str, Any] = {
        "uuid": uuid.uuid4(),
        "name": f"{PREFIX}{uuid.uuid4().hex[:8]}",
        "vcpus": 1,
        "max_vcpus": 1,
        "memory_mib": 64,
        "max_memory_mib": 64,
        "disks": [DiskSpec(device="hdc", bus="ide", kind="cdrom", format="raw", readonly=True)],
        "console": ConsoleSpec(),
    }
    return DomainSpec.model_validate(base | fields)


@contextlib.contextmanager
def served_agent() -> Iterator[ServedAgent]:
    """Serve an agent until the block ends; everything it made is removed afterwards."""
    if not Path("/var/run/libvirt/libvirt-sock").exists():
        pytest.fail("libvirtd is not running; run scripts/node-services.sh", pytrace=False)
    pool_dir = Path("/var/tmp") / f"{PREFIX}{uuid.uuid4().hex[:8]}"
    pool_dir.mkdir(mode=0o755)  # QEMU (another user) opens the volumes
    pool = f"{PREFIX}pool-{pool_dir.name[-8:]}"
    settings = Settings(
        libvirt_uri="qemu:///system",
        state_dir=pool_dir / "state",
        pool_dir=pool_dir,
        default_pool=pool,
    )
    node = Node(settings)
    identity = Identity(
        vrm_url="http://127.0.0.1:9",
        host_id=uuid.uuid4(),
        cluster_id=uuid.uuid4(),
        host_credential="cnah_x",
        vrm_credential_sha256=hash_credential(CREDENTIAL),
    )
    port = free_port()
    config = uvicorn.Config(
        create_app(node, lambda: identity),
        host="127.0.0.1",
        port=port,
        ws="websockets-sansio",
        log_level="warning",
        lifespan="off",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="served-agent", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {CREDENTIAL}"}
    try:
        _wait_started(server)
        with httpx.Client(base_url=url, headers=headers, timeout=60) as http:
            agent = ServedAgent(url, node, pool, pool_dir, http)
            agent.ok(http.put(f"/v1/pools/{pool}", json={"name": pool, "path": str(pool_dir)}))
            yield agent
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        _remove(node, pool_dir)


def _wait_started(server: uvicorn.Server) -> None:
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the agent did not start"
        time.sleep(0.02)


def _remove(node: Node, pool_dir: Path) -> None:
    with contextlib.suppress(libvirt.libvirtError):
        _cleanup(node.hv.conn)
    node.close()
    shutil.rmtree(pool_dir, ignore_errors=True)
