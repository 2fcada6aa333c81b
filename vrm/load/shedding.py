"""Turning heartbeats away cheaply while VRM is overloaded, before anything is parsed."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Receive, Scope, Send

from vrm.load.lag import LoopLag


class ShedHeartbeats:
    """ASGI middleware: 503 + ``Retry-After`` for heartbeats while the loop runs late."""

    def __init__(self, app: ASGIApp, lag: LoopLag, retry_after_s: int) -> None:
        self.app = app
        self.lag = lag
        body = {
            "error": {
                "code": "overloaded",
                "message": "VRM is overloaded and sheds heartbeats; send the next one later",
                "details": {"retry_after_s": retry_after_s},
            }
        }
        self._body = json.dumps(body).encode()
        self._headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(self._body)).encode()),
            (b"retry-after", str(retry_after_s).encode()),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer a heartbeat at once when overloaded; pass everything else on."""
        if scope["type"] == "http" and self.lag.overloaded and _is_heartbeat(scope):
            self.lag.note_shed()
            await send({"type": "http.response.start", "status": 503, "headers": self._headers})
            await send({"type": "http.response.body", "body": self._body})
            return
        await self.app(scope, receive, send)


def _is_heartbeat(scope: Scope) -> bool:
    path: str = scope["path"]
    return scope["method"] == "POST" and path.endswith("/heartbeat")
