"""Console relays of a real agent (uvicorn) over qemu:///system, as VRM opens them: the
RFB handshake through the websocket, two viewers, exclusive consoles, closing, refusals,
and the serial console of the tiny test guest (when ``var/test-media/tiny.iso`` exists).
"""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Callable, Iterator

import libvirt_qemu  # type: ignore[import-untyped]
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from cna_agent.protocol import DiskSpec
from cna_agent.protocol.consoles import ConsoleClose
from cna_agent.relay import EXCLUSIVE_IN_USE, TAKEN_OVER
from tests import media
from tests.cna_agent.api.served import CREDENTIAL, ServedAgent, served_agent

RFB_VERSION = b"RFB 003.008\n"
SECURITY_NONE = 1
# The tiny guest's line on ttyS0 once it is up (tests/media.py).
READY_LINE = media.READY_LINE.encode()


@pytest.fixture(scope="module")
def agent() -> Iterator[ServedAgent]:
    with served_agent() as agent:
        yield agent


@pytest.fixture(scope="module")
def vm(agent: ServedAgent) -> uuid.UUID:
    """One running guest with a VNC console, shared by the tests of this module."""
    return agent.run_vm()


class Viewer:
    """A websocket console client that reads exact byte counts across frames."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.buffer = b""

    def read(self, count: int, timeout: float = 10) -> bytes:
        while len(self.buffer) < count:
            data = self.ws.recv(timeout=timeout)
            assert isinstance(data, bytes), "console frames are binary"
            self.buffer += data
        data, self.buffer = self.buffer[:count], self.buffer[count:]
        return data

    def read_until(self, marker: bytes, timeout: float) -> bytes:
        deadline = time.monotonic() + timeout
        while marker not in self.buffer:
            data = self.ws.recv(timeout=max(0.01, deadline - time.monotonic()))
            assert isinstance(data, bytes)
            self.buffer += data
        seen, self.buffer = self.buffer.split(marker, 1)
        return seen + marker

    def rfb_handshake(self) -> list[int]:
        """Version exchange; the security types the server offers."""
        assert self.read(12) == RFB_VERSION
        self.ws.send(RFB_VERSION)
        count = self.read(1)[0]
        return list(self.read(count))

    def rfb_init(self) -> bytes:
        """Security None, then a shared ClientInit; the desktop name."""
        self.ws.send(bytes([SECURITY_NONE]))
        assert self.read(4) == b"\0\0\0\0", "security result: OK"
        self.ws.send(b"\x01")  # shared-flag 1: other viewers stay
        server_init = self.read(24)
        return self.read(int.from_bytes(server_init[20:24], "big"))


def open_viewer(agent: ServedAgent, vm: uuid.UUID | str, **query: str) -> Viewer:
    headers = {"Authorization": f"Bearer {CREDENTIAL}"}
    return Viewer(connect(agent.ws_url(vm, **query), additional_headers=headers))


def refusal(ws_url: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    """The close code and reason of a relay the agent refuses."""
    with (
        connect(ws_url, additional_headers=headers or {}) as ws,
        pytest.raises(ConnectionClosed) as closed,
    ):
        ws.recv(timeout=10)
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code, closed.value.rcvd.reason


def viewers(agent: ServedAgent, vm: uuid.UUID) -> int:
    count: int = agent.ok(agent.http.get(f"/v1/vms/{vm}/console"))["viewers"]
    return count


def qemu_vnc_clients(agent: ServedAgent, vm: uuid.UUID) -> int:
    dom = agent.node.hv.conn.lookupByUUIDString(str(vm))
    return str(libvirt_qemu.qemuMonitorCommand(dom, "info vnc", 1)).count("Client:")


def eventually(check: Callable[[], bool], what: str, timeout: float = 5) -> float:
    """Seconds until ``check`` holds."""
    start = time.monotonic()
    while not check():
        assert time.monotonic() - start < timeout, f"timed out waiting for {what}"
        time.sleep(0.01)
    return time.monotonic() - start


def test_console_info_names_the_socket(agent: ServedAgent, vm: uuid.UUID) -> None:
    info = agent.ok(agent.http.get(f"/v1/vms/{vm}/console"))
    assert info["vnc_socket"].endswith("/vnc.sock")
    assert info["vnc_socket"].startswith("/var/lib/libvirt/qemu/domain-")
    assert (info["serial"], info["viewers"]) == (True, 0)


def test_vnc_relay_completes_the_rfb_handshake(agent: ServedAgent, vm: uuid.UUID) -> None:
    viewer = open_viewer(agent, vm, type="vnc", exclusive="false")
    with viewer.ws:
        assert SECURITY_NONE in viewer.rfb_handshake()
        assert viewer.rfb_init()  # QEMU names its desktop
        assert viewers(agent, vm) == 1
        assert qemu_vnc_clients(agent, vm) == 1
    # Closing the websocket closes the relay and its UNIX connection promptly.
    eventually(lambda: viewers(agent, vm) == 0, "the relay to close")
    eventually(lambda: qemu_vnc_clients(agent, vm) == 0, "QEMU to lose its client")


def test_two_viewers_at_once(agent: ServedAgent, vm: uuid.UUID) -> None:
    first, second = open_viewer(agent, vm), open_viewer(agent, vm, exclusive="false")
    with first.ws, second.ws:
        assert SECURITY_NONE in first.rfb_handshake()
        first.rfb_init()
        assert SECURITY_NONE in second.rfb_handshake()
        second.rfb_init()
        assert viewers(agent, vm) == 2
        for viewer in (first, second):  # both still served: a framebuffer update each
            viewer.ws.send(bytes([3, 0, 0, 0, 0, 0, 0, 8, 0, 8]))
            assert viewer.read(1)[0] == 0
    eventually(lambda: viewers(agent, vm) == 0, "both relays to close")


def test_an_exclusive_console_refuses_a_second_viewer(agent: ServedAgent, vm: uuid.UUID) -> None:
    alone = open_viewer(agent, vm, type="vnc", exclusive="true")
    with alone.ws:
        assert SECURITY_NONE in alone.rfb_handshake()
        for exclusive in ("true", "false"):
            url = agent.ws_url(vm, exclusive=exclusive)
            code, reason = refusal(url, {"Authorization": f"Bearer {CREDENTIAL}"})
            assert (code, reason) == (ConsoleClose.BUSY, EXCLUSIVE_IN_USE)
        assert viewers(agent, vm) == 1
        alone.rfb_init()  # the first one is unaffected
    eventually(lambda: viewers(agent, vm) == 0, "the relay to close")
    # Nobody watches now: an exclusive viewer is welcome again.
    again = open_viewer(agent, vm, exclusive="true")
    with again.ws:
        assert again.rfb_handshake()


def test_exclusive_wants_the_console_alone(agent: ServedAgent, vm: uuid.UUID) -> None:
    with open_viewer(agent, vm).ws:
        eventually(lambda: viewers(agent, vm) == 1, "the first relay")
        headers = {"Authorization": f"Bearer {CREDENTIAL}"}
        code, reason = refusal(agent.ws_url(vm, exclusive="true"), headers)
        assert code == ConsoleClose.BUSY
        assert "in use by another viewer" in reason


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer cnav_wrong"}, {"Authorization": f"Basic {CREDENTIAL}"}],
    ids=["missing", "wrong", "not bearer"],
)
def test_refuses_without_vrms_credential(
    agent: ServedAgent, vm: uuid.UUID, headers: dict[str, str]
) -> None:
    code, reason = refusal(agent.ws_url(vm), headers)
    assert (code, reason) == (ConsoleClose.UNAUTHENTICATED, "missing or wrong VRM credential")
    assert viewers(agent, vm) == 0


def test_refuses_unknown_vms_and_consoles(agent: ServedAgent, vm: uuid.UUID) -> None:
    headers = {"Authorization": f"Bearer {CREDENTIAL}"}
    unknown = uuid.uuid4()
    assert refusal(agent.ws_url(unknown), headers) == (
        ConsoleClose.NOT_FOUND,
        f"there is no VM {unknown} on this node",
    )
    for url in (agent.ws_url("not-a-uuid"), agent.ws_url(vm, type="spice")):
        assert refusal(url, headers)[0] == ConsoleClose.NOT_FOUND


def test_a_stopped_vm_and_one_that_stops(agent: ServedAgent) -> None:
    other = agent.run_vm(start=False)
    headers = {"Authorization": f"Bearer {CREDENTIAL}"}
    for kind in ("vnc", "serial"):
        code, reason = refusal(agent.ws_url(other, type=kind), headers)
        assert (code, reason) == (ConsoleClose.NOT_RUNNING, "the VM is not running")

    agent.ok(agent.http.post(f"/v1/vms/{other}/start"))
    viewer = open_viewer(agent, other)
    with viewer.ws:
        assert SECURITY_NONE in viewer.rfb_handshake()
        # Power off at once (force, no time for ACPI): the relay ends with the VM.
        started = time.monotonic()
        stop = {"force": True, "timeout_s": 0}
        op = agent.ok(agent.http.post(f"/v1/vms/{other}/stop", json=stop), 202)
        with pytest.raises(ConnectionClosed) as closed:
            viewer.read(1, timeout=10)
        assert time.monotonic() - started < 5
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == ConsoleClose.DONE
    eventually(
        lambda: agent.ok(agent.http.get(f"/v1/operations/{op['id']}"))["state"] == "succeeded",
        "the stop",
    )
    assert agent.ok(agent.http.get(f"/v1/vms/{other}"))["state"] == "shutoff"


@pytest.fixture(scope="module")
def tiny_vm(agent: ServedAgent) -> uuid.UUID:
    """A stopped guest booting the tiny ISO from its CD-ROM (first in the boot order)."""
    shutil.copy(media.tiny_iso(), agent.pool_dir / "tiny.iso")
    agent.pool_dir.joinpath("tiny.iso").chmod(0o644)
    agent.node.storage.refresh(agent.pool)  # a file put there by hand, not an upload
    cdrom = DiskSpec(
        device="hdc",
        bus="ide",
        kind="cdrom",
        format="raw",
        readonly=True,
        pool=agent.pool,
        volume="tiny.iso",
        boot_order=1,
    )
    return agent.run_vm(
        start=False, disks=[cdrom], console=None, memory_mib=256, max_memory_mib=256
    )


def test_serial_console_of_a_real_guest(agent: ServedAgent, tiny_vm: uuid.UUID) -> None:
    agent.ok(agent.http.post(f"/v1/vms/{tiny_vm}/start"))
    # Open at once: what the guest writes before anyone reads is lost.
    serial = open_viewer(agent, tiny_vm, type="serial")
    with serial.ws:
        boot = serial.read_until(READY_LINE, timeout=90)
        assert b"\n" in boot  # the boot output (isolinux, kernel) came before
        serial.ws.send(b"echo OVRM-$((6*7))\r")
        serial.read_until(b"OVRM-42", timeout=20)

        # A second serial viewer takes the console over; the first one's relay ends.
        taker = open_viewer(agent, tiny_vm, type="serial")
        with taker.ws:
            with pytest.raises(ConnectionClosed) as closed:
                serial.read_until(b"never", timeout=10)
            assert closed.value.rcvd is not None
            assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (
                ConsoleClose.DONE,
                TAKEN_OVER,
            )
            taker.ws.send(b"echo OVRM-$((7*7))\r")
            taker.read_until(b"OVRM-49", timeout=20)
    headers = {"Authorization": f"Bearer {CREDENTIAL}"}
    assert refusal(agent.ws_url(tiny_vm, type="vnc"), headers) == (
        ConsoleClose.NOT_FOUND,
        "this VM has no VNC console",
    )
