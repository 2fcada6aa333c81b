"""A stand-in VRM that answers the fleet's calls at once, to measure the generator itself.

    .venv/bin/python -m bench.fleet.sink --port 8766 &
    .venv/bin/python -m bench.fleet --url http://127.0.0.1:8766 --password x --mode rate ...

It speaks just enough HTTP/1.1 (keep-alive, Content-Length bodies) for httpx.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import uuid
from collections.abc import Sequence

_HEARTBEAT = re.compile(r"^/api/v1/agents/[0-9a-f-]{36}/heartbeat$")
_CLUSTER_ID = str(uuid.uuid4())
_STATUS_TEXT = {200: "OK", 201: "Created", 404: "Not Found"}


def answer(method: str, path: str) -> tuple[int, bytes]:
    """The status and JSON body VRM would give, in its simplest form."""
    if method == "POST" and _HEARTBEAT.match(path):
        return 200, b'{"host_state":"normal"}'
    routes: dict[tuple[str, str], tuple[int, object]] = {
        ("POST", "/api/v1/auth/token"): (200, {"access_token": "sink", "token_type": "bearer"}),
        ("GET", "/api/v1/clusters"): (200, {"items": [], "total": 0}),
        ("POST", "/api/v1/clusters"): (201, {"id": _CLUSTER_ID}),
        ("POST", "/api/v1/enrollment-tokens"): (201, {"token": uuid.uuid4().hex}),
        ("POST", "/api/v1/agents/enroll"): (201, _enrolled()),
        ("GET", "/api/v1/hosts"): (200, {"items": [], "total": 0}),
    }
    status, body = routes.get((method, path), (404, {"error": {"code": "not_found"}}))
    return status, json.dumps(body).encode()


def _enrolled() -> dict[str, str]:
    return {
        "host_id": str(uuid.uuid4()),
        "cluster_id": _CLUSTER_ID,
        "host_credential": uuid.uuid4().hex,
        "vrm_credential": uuid.uuid4().hex,
    }


async def _serve_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Answer requests on one connection until the client closes it."""
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            method, target, _ = head.split(b"\r\n", 1)[0].decode().split(" ", 2)
            await reader.readexactly(_content_length(head))
            status, body = answer(method, target.split("?", 1)[0])
            writer.write(_response(status, body))
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, ValueError):
        pass
    finally:
        writer.close()


def _content_length(head: bytes) -> int:
    match = re.search(rb"(?im)^content-length:\s*(\d+)\s*$", head)
    return int(match.group(1)) if match else 0


def _response(status: int, body: bytes) -> bytes:
    return (
        f"HTTP/1.1 {status} {_STATUS_TEXT[status]}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\n\r\n"
    ).encode() + body


async def serve(port: int) -> None:
    """Serve on 127.0.0.1:``port`` until cancelled."""
    server = await asyncio.start_server(_serve_connection, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m bench.fleet.sink --port N``."""
    parser = argparse.ArgumentParser(prog="python -m bench.fleet.sink", description=__doc__)
    parser.add_argument("--port", type=int, default=8766)
    asyncio.run(serve(parser.parse_args(argv).port))


if __name__ == "__main__":
    main()
