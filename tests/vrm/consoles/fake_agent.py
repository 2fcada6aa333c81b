"""A stand-in for an agent's console websocket: a real websockets server in a thread.

It records what VRM asked for (path, query, headers, bytes) and behaves as told:
echo every frame, close with a code and reason right after accepting (as the agent
refuses a busy exclusive console), or refuse the handshake itself.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.sync.server import Server, ServerConnection, serve


@dataclass
class Seen:
    """One console connection as the agent saw it."""

    path: str
    headers: Headers
    received: list[bytes] = field(default_factory=list)
    close_code: int | None = None
    close_reason: str | None = None
    ended: threading.Event = field(default_factory=threading.Event)


class FakeAgent:
    """An agent's console endpoint on 127.0.0.1; ``url`` is its base (``http://...``)."""

    def __init__(self) -> None:
        self.close_with: tuple[int, str] | None = None
        self.refuse_status: int | None = None
        self.greeting = b"RFB 003.008\n"
        self.seen: list[Seen] = []
        self._server: Server = serve(
            self._handle, "127.0.0.1", 0, process_request=self._process, compression=None
        )
        self.port: int = self._server.socket.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and wait for the thread."""
        self._server.shutdown()
        self._thread.join(timeout=10)

    def last(self, timeout_s: float = 5.0) -> Seen:
        """The latest connection, once it has ended."""
        assert self.seen, "VRM never connected to the agent"
        seen = self.seen[-1]
        assert seen.ended.wait(timeout_s), "the agent's side of the relay never closed"
        return seen

    def _process(self, conn: ServerConnection, request: Request) -> Response | None:
        if self.refuse_status is not None:
            return conn.respond(self.refuse_status, "refused by the fake agent\n")
        return None

    def _handle(self, conn: ServerConnection) -> None:
        assert conn.request is not None
        seen = Seen(path=conn.request.path, headers=conn.request.headers)
        self.seen.append(seen)
        try:
            if self.close_with is not None:
                conn.close(*self.close_with)
                return
            conn.send(self.greeting)
            for message in conn:
                data = message if isinstance(message, bytes) else message.encode()
                seen.received.append(data)
                conn.send(b"echo:" + data)
        except ConnectionClosed:
            pass
        finally:
            seen.close_code, seen.close_reason = _close_of(conn)
            seen.ended.set()


def _close_of(conn: ServerConnection) -> tuple[int | None, str | None]:
    close: Any = conn.protocol.close_rcvd
    return (close.code, close.reason) if close is not None else (None, None)
