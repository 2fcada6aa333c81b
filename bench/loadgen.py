"""A small, cheap HTTP/1.1 load generator: keep-alive connections in one asyncio loop.

A benchmark of a server on the same 2-core machine must not spend the server's CPU on
its client: this one writes pre-built requests and reads answers by Content-Length,
about 30 µs per request, so the figures are the server's. Loopback only.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

# Builds the request bytes of the i-th request of a connection.
RequestMaker = Callable[[int], bytes]


@dataclass
class Result:
    """Latencies (seconds) and status codes of one run."""

    duration_s: float
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)

    @property
    def rate(self) -> float:
        """Answers per second."""
        return len(self.latencies) / self.duration_s if self.duration_s else 0.0

    def percentile_ms(self, p: float) -> float:
        """The ``p`` (0-100) percentile latency in milliseconds."""
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))] * 1000

    def summary(self) -> dict[str, object]:
        """The figures a report shows."""
        return {
            "requests": len(self.latencies),
            "rate": round(self.rate, 1),
            "p50_ms": round(self.percentile_ms(50), 2),
            "p99_ms": round(self.percentile_ms(99), 2),
            "max_ms": round(self.percentile_ms(100), 2),
            "statuses": dict(self.statuses),
            "errors": dict(self.errors),
        }


def request_bytes(
    url: str, method: str = "GET", *, body: bytes = b"", headers: Sequence[tuple[str, str]] = ()
) -> bytes:
    """One HTTP/1.1 keep-alive request to ``url``."""
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    lines = [f"{method} {target} HTTP/1.1", f"Host: {parts.netloc}"]
    lines += [f"{name}: {value}" for name, value in headers]
    if body:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _read_answer(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    if length:
        await reader.readexactly(length)
    return status


async def closed_loop(
    url: str, make: RequestMaker, *, connections: int, duration_s: float, timeout_s: float = 10
) -> Result:
    """``connections`` clients, each sending its next request when the last one answered."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    result = Result(duration_s=duration_s)
    deadline = time.monotonic() + duration_s

    async def client(number: int) -> None:
        reader, writer = await asyncio.open_connection(host, port)
        sent = number * 1_000_000
        try:
            while time.monotonic() < deadline:
                started = time.monotonic()
                writer.write(make(sent))
                sent += 1
                try:
                    status = await asyncio.wait_for(_read_answer(reader), timeout_s)
                except (TimeoutError, asyncio.IncompleteReadError, ConnectionError) as exc:
                    result.errors[type(exc).__name__] += 1
                    writer.close()
                    reader, writer = await asyncio.open_connection(host, port)
                    continue
                result.latencies.append(time.monotonic() - started)
                result.statuses[status] += 1
        finally:
            writer.close()

    await asyncio.gather(*(client(n) for n in range(connections)))
    return result
