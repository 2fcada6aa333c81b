"""Server-Sent Events for open pages, and the message catalogue for their scripts."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse

from vrm import __version__
from vrm.deps import StreamingUser
from vrm.errors import NotFound
from vrm.web import i18n
from vrm.web.feed import ChangeFeed, Listener

router = APIRouter(include_in_schema=False)

# A comment line this often keeps proxies from closing a quiet stream.
KEEPALIVE_S = 15.0


@router.get("/ui/events")
async def events(request: Request, _user: StreamingUser) -> StreamingResponse:
    """Changes of VMs, tasks, hosts, events and alarms as they happen (``text/event-stream``)."""
    feed: ChangeFeed = request.app.state.feed
    listener = feed.listen()
    return StreamingResponse(
        _stream(request, feed, listener),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


async def _stream(request: Request, feed: ChangeFeed, listener: Listener) -> AsyncIterator[str]:
    try:
        yield "retry: 2000\n\n"
        while not listener.dropped:
            try:
                change = await asyncio.wait_for(listener.queue.get(), KEEPALIVE_S)
            except TimeoutError:
                if await request.is_disconnected():
                    return
                yield ": keep-alive\n\n"
                continue
            if change is None:
                return
            kind, data = change
            yield f"event: {kind}\ndata: {data}\n\n"
    finally:
        feed.leave(listener)


@router.get("/ui/messages/{lang}.json")
def messages(lang: str) -> Response:
    """Every translated message of ``lang``, for the pages' scripts (cached per version)."""
    if lang not in i18n.LANGUAGES:
        raise NotFound(f"no language {lang!r}", code="not_found")
    body = json.dumps(i18n.catalogue(lang), ensure_ascii=False, separators=(",", ":"))
    return Response(
        body,
        media_type="application/json",
        headers={"Cache-Control": "public, max-age=86400", "ETag": f'"{__version__}-{lang}"'},
    )
