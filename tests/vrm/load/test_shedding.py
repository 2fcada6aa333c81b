"""Heartbeats are turned away before parsing while VRM is overloaded; nothing else is."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from starlette.types import Message, Receive, Scope, Send

from vrm.load.lag import LoopLag
from vrm.load.shedding import ShedHeartbeats


async def _inner(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


def _call(app: ShedHeartbeats, method: str, path: str) -> list[Message]:
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    scope: dict[str, Any] = {"type": "http", "method": method, "path": path, "headers": []}
    asyncio.run(app(scope, receive, send))
    return sent


def test_heartbeats_are_shed_while_overloaded() -> None:
    lag = LoopLag(limit_s=0.5)
    app = ShedHeartbeats(_inner, lag, retry_after_s=7)
    beat = "/api/v1/agents/2f1c/heartbeat"
    assert _call(app, "POST", beat)[0]["status"] == 200
    lag.sample(1.0)
    start, body = _call(app, "POST", beat)
    assert start["status"] == 503
    headers = dict(start["headers"])
    assert headers[b"retry-after"] == b"7"
    assert json.loads(body["body"])["error"]["code"] == "overloaded"
    assert lag.shed == 1
    assert _call(app, "GET", "/api/v1/hosts")[0]["status"] == 200, "the API is not shed"
    assert _call(app, "POST", "/api/v1/vms")[0]["status"] == 200
