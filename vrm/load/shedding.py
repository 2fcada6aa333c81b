"""Turning heartbeats away cheaply while VRM is overloaded, before anything is parsed."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Receive, Scope, Send

from vrm.load.lag import LoopLag

# Agents beat every 10 s by default: a shed agent comes back about when it would anyway.
HEARTBEAT_RETRY_AFTER_S = 10
_BODY = json.dumps(
    {
        "error": {
            "code": "overloaded",
            "message": "VRM is overloaded and sheds heartbeats; send the next one later",
            "details": {"retry_after_s": HEARTBEAT_RETRY_AFTER_S},
        }
    }
).encode()


class ShedHeartbeats:
    """ASGI middleware: 503 + ``Retry-After`` for heartbeats while the loop runs late."""

    def __init__(self, app: ASGIApp, lag: LoopLag) -> None:
        self.app = app
        self.lag = lag

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer a heartbeat at once when overloaded; pass everything else on."""
        if scope["type"] == "http" and self.lag.overloaded and _is_heartbeat(scope):
            self.lag.note_shed()
            await _send_503(send)
            return
        await self.app(scope, receive, send)


def _is_heartbeat(scope: Scope) -> bool:
    path: str = scope["path"]
    return scope["method"] == "POST" and path.endswith("/heartbeat")


async def _send_503(send: Send) -> None:
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(_BODY)).encode()),
        (b"retry-after", str(HEARTBEAT_RETRY_AFTER_S).encode()),
    ]
    await send({"type": "http.response.start", "status": 503, "headers": headers})
    await send({"type": "http.response.body", "body": _BODY})
