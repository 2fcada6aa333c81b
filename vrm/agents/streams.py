"""Streaming an upload to an agent without holding it: chunks go on as they arrive.

The synchronous ``AgentClient`` serves task steps in threads; an upload is relayed on
the event loop instead, from the client's request body straight into the agent's, so
VRM holds one chunk at a time whatever the image's size.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx

from cna_agent.protocol.images import (
    UPLOAD_FORMAT,
    UPLOAD_MAX_BYTES,
    UPLOAD_SHA256,
    ImageFormat,
    ImageReport,
)
from vrm.agents.client import AgentCallError, error_from, tls_context, unreachable

# Connecting must be quick; a node may take minutes to validate a large image after the
# last byte (qemu-img, checksum), and a slow client may pause between chunks.
UPLOAD_TIMEOUT = httpx.Timeout(connect=10.0, read=900.0, write=900.0, pool=10.0)


async def upload_image(
    agent_url: str,
    credential: str,
    *,
    pool: str,
    name: str,
    format: ImageFormat,
    max_bytes: int,
    body: AsyncIterator[bytes],
    size_bytes: int | None = None,
    sha256: str | None = None,
) -> ImageReport:
    """Send ``body`` to the agent as the image ``pool/name``; its report once validated.

    Raises ``AgentCallError`` (the agent's refusal, or unreachable); an exception of
    ``body`` (the client went away) propagates as it is, and the agent, seeing its
    request cut, removes the partial file.
    """
    params = {UPLOAD_FORMAT: format.value, UPLOAD_MAX_BYTES: str(max_bytes)}
    if sha256:
        params[UPLOAD_SHA256] = sha256
    headers = {"Authorization": f"Bearer {credential}"}
    if size_bytes is not None:
        headers["Content-Length"] = str(size_bytes)
    url = f"{agent_url.rstrip('/')}/v1/pools/{pool}/images/{name}/data"
    async with httpx.AsyncClient(timeout=UPLOAD_TIMEOUT, verify=tls_context()) as http:
        try:
            response = await http.put(url, params=params, headers=headers, content=body)
        except httpx.TransportError as exc:
            message = f"agent at {agent_url} unreachable: {exc!s}"
            raise unreachable(message, "agent_unreachable") from exc
    if response.is_error:
        raise error_from(response)
    return ImageReport.model_validate(response.json())


__all__ = ["AgentCallError", "upload_image"]
