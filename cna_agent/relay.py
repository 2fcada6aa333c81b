"""Console relays: a websocket from VRM on one side, a domain's console on the other.

VNC is a byte stream on the domain's UNIX socket; the serial console is the
pseudo-terminal QEMU gives ttyS0 (see ``virt.consoles`` for why not libvirt's console
stream). Both are read and written on the event loop without blocking. Bytes travel
in binary websocket frames until one side ends, and then the other is closed at once.
Refusals and endings carry a ``ConsoleClose`` code and a reason meant for the person
watching. A serial port has one reader: a new serial viewer takes it over from the
one before (unless that one is exclusive).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import tty
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol, TypeVar
from uuid import UUID

import anyio.to_thread
from starlette.websockets import WebSocket

from cna_agent.errors import AgentError, NotFound, StateConflict
from cna_agent.protocol import ConsoleInfo
from cna_agent.protocol.consoles import ConsoleClose, ConsoleType

log = logging.getLogger(__name__)
T = TypeVar("T")

_READ = 65536
ENDED = "the console closed (the VM stopped?)"
TAKEN_OVER = "another viewer took the serial console over"
EXCLUSIVE_IN_USE = "the console of this VM is exclusive and already in use by another viewer"
SHARED_IN_USE = "the console of this VM is in use by another viewer: it cannot be had alone"


class ConsoleRefused(Exception):
    """A relay that cannot be (or stay) open: the websocket closes with ``code``."""

    def __init__(self, code: ConsoleClose, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class DomainConsoles(Protocol):
    """Where the relay finds consoles (the virt layer's Domains)."""

    def console(self, uuid: UUID) -> ConsoleInfo:
        """The consoles of a running domain."""

    def serial_path(self, uuid: UUID) -> str:
        """The pseudo-terminal of a running domain's ttyS0."""


class Channel(Protocol):
    """The console end of a relay; ``ended`` says why it ended, for the viewer."""

    ended: str

    async def read(self) -> bytes:
        """The next bytes from the console; ``b""`` when it ended."""

    async def write(self, data: bytes) -> None:
        """Bytes for the console."""

    async def close(self) -> None:
        """Close the console end."""


@dataclass
class _Watch:
    exclusive: bool


class Viewers:
    """The relays open now, by domain and console type (safe from threads and tasks)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: dict[tuple[UUID, ConsoleType], list[_Watch]] = {}

    def count(self, uuid: UUID, kind: ConsoleType) -> int:
        """How many relays of this console are open."""
        with self._lock:
            return len(self._open.get((uuid, kind), []))

    @contextlib.contextmanager
    def watch(self, uuid: UUID, kind: ConsoleType, *, exclusive: bool) -> Iterator[None]:
        """Count a viewer while the block runs; ConsoleRefused BUSY when an exclusive
        viewer is there, or when this one wants to be alone and is not."""
        watch = _Watch(exclusive)
        with self._lock:
            present = self._open.setdefault((uuid, kind), [])
            if any(w.exclusive for w in present):
                raise ConsoleRefused(ConsoleClose.BUSY, EXCLUSIVE_IN_USE)
            if exclusive and present:
                raise ConsoleRefused(ConsoleClose.BUSY, SHARED_IN_USE)
            present.append(watch)
        try:
            yield
        finally:
            with self._lock:
                present.remove(watch)
                if not present:
                    self._open.pop((uuid, kind), None)


class ConsoleRelay:
    """Opens the consoles of the node's domains and relays them to websockets (on one
    event loop: the serial readers by domain are the loop's own)."""

    def __init__(self, domains: DomainConsoles) -> None:
        self.domains = domains
        self.viewers = Viewers()
        self._serial: dict[UUID, PtyChannel] = {}

    async def serve(
        self, websocket: WebSocket, uuid: UUID, kind: ConsoleType, *, exclusive: bool
    ) -> None:
        """Relay one console to an accepted websocket until either side ends."""
        with self.viewers.watch(uuid, kind, exclusive=exclusive):
            if kind == ConsoleType.SERIAL:
                channel: Channel = await self._open_serial(uuid)
            else:
                channel = await self._open_vnc(uuid)
            try:
                await pump(websocket, channel)
            finally:
                if self._serial.get(uuid) is channel:
                    del self._serial[uuid]

    async def _open_vnc(self, uuid: UUID) -> UnixChannel:
        info = await self._ask(self.domains.console, uuid)
        if info.vnc_socket is None:
            raise ConsoleRefused(ConsoleClose.NOT_FOUND, "this VM has no VNC console")
        try:
            return await UnixChannel.open(info.vnc_socket)
        except OSError as exc:
            raise _failed(uuid, exc) from exc

    async def _open_serial(self, uuid: UUID) -> PtyChannel:
        path = await self._ask(self.domains.serial_path, uuid)
        previous = self._serial.pop(uuid, None)
        if previous is not None:
            await previous.close(TAKEN_OVER)
        try:
            channel = PtyChannel.open(path)
        except OSError as exc:
            raise _failed(uuid, exc) from exc
        self._serial[uuid] = channel
        return channel

    @staticmethod
    async def _ask(call: Callable[[UUID], T], uuid: UUID) -> T:
        """A virt-layer call in a worker thread, its errors as refusals."""
        try:
            return await anyio.to_thread.run_sync(call, uuid)
        except AgentError as exc:
            raise _refusal(uuid, exc) from exc


def _failed(uuid: UUID, exc: OSError) -> ConsoleRefused:
    log.warning("cannot open the console of %s: %s", uuid, exc)
    return ConsoleRefused(ConsoleClose.FAILED, "the node could not open the console")


def _refusal(uuid: UUID, exc: AgentError) -> ConsoleRefused:
    if exc.code == "domain_not_found":
        return ConsoleRefused(ConsoleClose.NOT_FOUND, f"there is no VM {uuid} on this node")
    if isinstance(exc, NotFound):
        return ConsoleRefused(ConsoleClose.NOT_FOUND, "this VM has no such console")
    if isinstance(exc, StateConflict):
        return ConsoleRefused(ConsoleClose.NOT_RUNNING, "the VM is not running")
    log.warning("cannot open the console of %s: %s", uuid, exc.message)
    return ConsoleRefused(ConsoleClose.FAILED, "the node could not open the console")


async def pump(websocket: WebSocket, channel: Channel) -> None:
    """Carry bytes both ways until one side ends, then close the other."""
    from_console = asyncio.create_task(_console_to_websocket(channel, websocket))
    from_viewer = asyncio.create_task(_websocket_to_console(websocket, channel))
    try:
        done, _ = await asyncio.wait(
            {from_console, from_viewer}, return_when=asyncio.FIRST_COMPLETED
        )
    finally:
        for task in (from_console, from_viewer):
            task.cancel()
        await asyncio.gather(from_console, from_viewer, return_exceptions=True)
        await channel.close()
    if from_console in done and not from_console.cancelled() and not from_console.exception():
        with contextlib.suppress(Exception):
            await websocket.close(ConsoleClose.DONE, channel.ended)


async def _console_to_websocket(channel: Channel, websocket: WebSocket) -> None:
    """Returns when the console ended; raises when the viewer went away."""
    while data := await channel.read():
        await websocket.send_bytes(data)


async def _websocket_to_console(websocket: WebSocket, channel: Channel) -> None:
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        data = message.get("bytes") or (message.get("text") or "").encode()
        if data:
            await channel.write(data)


class UnixChannel:
    """A console on a UNIX stream socket (VNC)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader, self._writer = reader, writer
        self.ended = ENDED

    @classmethod
    async def open(cls, path: str) -> UnixChannel:
        """Connect to the socket at ``path``."""
        return cls(*await asyncio.open_unix_connection(path))

    async def read(self) -> bytes:
        """The next bytes; ``b""`` at the end."""
        return await self._reader.read(_READ)

    async def write(self, data: bytes) -> None:
        """Send bytes, waiting while the socket is full."""
        self._writer.write(data)
        await self._writer.drain()

    async def close(self) -> None:
        """Close the connection."""
        self._writer.close()
        with contextlib.suppress(OSError):
            await self._writer.wait_closed()


class PtyChannel:
    """A console on a pseudo-terminal (a serial port) in raw mode, on the event loop."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._loop = asyncio.get_running_loop()
        self._inbox: asyncio.Queue[bytes] = asyncio.Queue()
        self.ended = ENDED
        self._loop.add_reader(fd, self._readable)

    @classmethod
    def open(cls, path: str) -> PtyChannel:
        """Open the terminal at ``path`` (never as our controlling terminal)."""
        fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        try:
            tty.setraw(fd)  # bytes as they are: no echo, no line editing, no CR/LF games
            return cls(fd)
        except BaseException:
            os.close(fd)
            raise

    async def read(self) -> bytes:
        """The next bytes; ``b""`` at the end."""
        return await self._inbox.get()

    async def write(self, data: bytes) -> None:
        """Write all of ``data``, waiting while the terminal is full."""
        while data:
            try:
                data = data[os.write(self._fd, data) :]
            except BlockingIOError:
                await asyncio.sleep(0.01)

    async def close(self, reason: str = ENDED) -> None:
        """Stop reading and close the terminal; a reader waiting gets the end."""
        if self._fd < 0:
            return
        self.ended = reason
        self._loop.remove_reader(self._fd)
        os.close(self._fd)
        self._fd = -1
        self._inbox.put_nowait(b"")

    def _readable(self) -> None:
        try:
            data = os.read(self._fd, _READ)
        except BlockingIOError:
            return
        except OSError:  # EIO: QEMU closed its side (the VM stopped)
            data = b""
        if not data:
            self._loop.remove_reader(self._fd)
        self._inbox.put_nowait(data)
