"""VNC consoles through VRM, on a real agent and qemu:///system (TCG guests, no OS).

A guest that boots to "no bootable device" still has a working VNC server: VRM relays
its RFB stream from the node's UNIX socket to a websocket client holding a ticket.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from cna_agent.protocol.consoles import CONSOLE_WS_PATH, ConsoleClose
from tests.cna_agent.conftest import PREFIX
from tests.e2e.processes import SECRET, Process, wait_until
from tests.e2e.vmlab import run
from vrm.agents.client import AgentClient
from vrm.agents.credentials import vrm_credential

RFB_VERSION = b"RFB 003.008\n"
SECURITY_NONE = 1
RUNS = 7


def running_vm(
    admin: httpx.Client, node: dict[str, Any], name: str, **extra: Any
) -> dict[str, Any]:
    """A started VM with a small blank disk."""
    body = {
        "name": f"{PREFIX}{name}",
        "cluster_id": node["cluster"],
        "vcpus": 1,
        "memory_mib": 128,
        "disks": [{"size_mib": 16}],
        **extra,
    }
    created = admin.post("/vms", json=body)
    task = run(admin, created)
    assert task["state"] == "succeeded", (task["error_code"], task["error_message"])
    vm: dict[str, Any] = created.json()["vm"]
    started = run(admin, admin.post(f"/vms/{vm['id']}/actions/start"))
    assert started["state"] == "succeeded", started
    return vm


def ws_url(vrm: Process, admin: httpx.Client, vm_id: str, *, at: str | None = None) -> str:
    """A fresh ticket's websocket URL on VRM (for another VM's path with ``at``)."""
    issued = admin.post(f"/vms/{vm_id}/console", json={"type": "vnc"})
    assert issued.status_code == 201, issued.text
    url = str(issued.json()["url"])
    if at is not None:
        url = url.replace(f"/vms/{vm_id}/", f"/vms/{at}/")
    return "ws" + vrm.url.removeprefix("http") + url


async def handshake(ws: ClientConnection) -> list[int]:
    """The RFB version exchange; the security types the server offers."""
    assert await ws.recv() == RFB_VERSION
    await ws.send(RFB_VERSION)
    data = bytearray()  # a count, then that many types, however the frames cut them
    while not data or len(data) < 1 + data[0]:
        frame = await ws.recv()
        assert isinstance(frame, bytes)
        data += frame
    return list(data[1 : 1 + data[0]])


async def refusal(url: str) -> InvalidStatus:
    """The HTTP answer of a refused console handshake."""
    with pytest.raises(InvalidStatus) as refused:
        await connect(url, proxy=None)
    return refused.value


def error_code(refused: InvalidStatus) -> str:
    body = json.loads(refused.response.body)
    return str(body["error"]["code"])


@pytest.fixture
def agent_of(admin: httpx.Client, node: dict[str, Any]) -> Iterator[AgentClient]:
    """VRM's client of the node's agent (to ask it how many viewers a console has)."""
    host = admin.get("/hosts").json()["items"][0]
    credential = vrm_credential(SECRET, uuid.UUID(host["id"]))
    with AgentClient(node["agent"].url, credential) as client:
        yield client


def viewers_become(agent: AgentClient, vm: dict[str, Any], count: int) -> None:
    wait_until(
        lambda: agent.console(uuid.UUID(vm["uuid"])).viewers == count or None,
        timeout_s=10,
        what=f"{count} viewers of {vm['name']}",
    )


def test_vnc_through_vrm_tickets_viewers_and_exclusive_consoles(
    vrm: Process, admin: httpx.Client, node: dict[str, Any], agent_of: AgentClient
) -> None:
    shared = running_vm(admin, node, "console")
    alone = running_vm(admin, node, "console-x", console_exclusive=True)
    urls = {name: ws_url(vrm, admin, vm["id"]) for name, vm in [("a", shared), ("b", shared)]}
    stray = ws_url(vrm, admin, shared["id"], at=alone["id"])
    alone_urls = [ws_url(vrm, admin, alone["id"]) for _ in range(2)]

    async def scenario() -> float:
        began = time.monotonic()
        async with connect(urls["a"], proxy=None) as first:
            assert SECURITY_NONE in await handshake(first)
            to_first_byte = time.monotonic() - began
            reused = await refusal(urls["a"])
            assert reused.response.status_code == 401
            assert error_code(reused) == "console_ticket_invalid"
            async with connect(urls["b"], proxy=None) as second:
                assert SECURITY_NONE in await handshake(second), "two viewers at once"
                await asyncio.to_thread(viewers_become, agent_of, shared, 2)
        await asyncio.to_thread(viewers_become, agent_of, shared, 0)
        wrong_vm = await refusal(stray)
        assert wrong_vm.response.status_code == 403
        assert error_code(wrong_vm) == "console_ticket_forbidden"
        async with connect(alone_urls[0], proxy=None) as watching:
            assert SECURITY_NONE in await handshake(watching)
            async with connect(alone_urls[1], proxy=None) as late:
                with pytest.raises(ConnectionClosed) as busy:
                    await late.recv()
            assert busy.value.rcvd is not None
            assert busy.value.rcvd.code == ConsoleClose.BUSY
            assert "exclusive" in busy.value.rcvd.reason, "the agent's message reaches the viewer"
            await asyncio.to_thread(viewers_become, agent_of, alone, 1)
        await asyncio.to_thread(viewers_become, agent_of, alone, 0)
        return to_first_byte

    to_first_byte = asyncio.run(scenario())
    assert to_first_byte < 3.0, f"first RFB bytes after {to_first_byte:.2f} s"


def test_time_to_first_rfb_byte_through_vrm_and_direct(
    vrm: Process,
    admin: httpx.Client,
    node: dict[str, Any],
    agent_of: AgentClient,
    request: pytest.FixtureRequest,
) -> None:
    vm = running_vm(admin, node, "console-timing")
    host = admin.get("/hosts").json()["items"][0]
    direct = "ws" + node["agent"].url.removeprefix("http")
    direct += CONSOLE_WS_PATH.format(uuid=vm["uuid"]) + "?type=vnc&exclusive=false"
    auth = {"Authorization": f"Bearer {vrm_credential(SECRET, uuid.UUID(host['id']))}"}

    async def first_byte(url: str, headers: dict[str, str] | None = None) -> float:
        began = time.monotonic()
        async with connect(url, proxy=None, additional_headers=headers) as ws:
            assert await ws.recv() == RFB_VERSION
            return time.monotonic() - began

    async def through_vrm() -> float:
        url = await asyncio.to_thread(ws_url, vrm, admin, vm["id"])
        return await first_byte(url)

    async def measure() -> tuple[list[float], list[float]]:
        relayed = [await through_vrm() for _ in range(RUNS)]
        straight = [await first_byte(direct, auth) for _ in range(RUNS)]
        return relayed, straight

    relayed, straight = asyncio.run(measure())
    # Shown by --junitxml (with -o junit_family=legacy) as the test's properties.
    request.node.user_properties += [
        ("rfb_first_byte_vrm_ms", [round(t * 1000, 1) for t in relayed]),
        ("rfb_first_byte_agent_ms", [round(t * 1000, 1) for t in straight]),
    ]
    assert statistics.median(relayed) < 1.0, relayed
    viewers_become(agent_of, vm, 0)


def test_a_stopped_vm_has_no_console(admin: httpx.Client, node: dict[str, Any]) -> None:
    created = admin.post(
        "/vms",
        json={
            "name": f"{PREFIX}off",
            "cluster_id": node["cluster"],
            "vcpus": 1,
            "memory_mib": 128,
            "disks": [{"size_mib": 16}],
        },
    )
    task = run(admin, created)
    assert task["state"] == "succeeded", (task["error_code"], task["error_message"])
    answer = admin.post(f"/vms/{created.json()['vm']['id']}/console")
    assert answer.status_code == 409
    assert answer.json()["error"]["details"]["state"] == "stopped"
