"""The agent's link to VRM: errors with Retry-After, and one kept-alive connection."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from cna_agent.protocol import Heartbeat, HostUsage
from cna_agent.vrm_link import VrmLink, VrmLinkError, retry_after_s

HOST_ID = str(uuid.UUID(int=7))


def beat() -> Heartbeat:
    now = datetime.now(UTC)
    usage = HostUsage(
        cpu_percent=1.0,
        memory_total_mib=1024,
        memory_used_mib=512,
        memory_free_mib=512,
        sampled_at=now,
    )
    return Heartbeat(sent_at=now, usage=usage)


def link_answering(response: httpx.Response) -> VrmLink:
    return VrmLink(transport=httpx.MockTransport(lambda _request: response))


def refused(response: httpx.Response) -> VrmLinkError:
    with pytest.raises(VrmLinkError) as caught:
        link_answering(response).send_heartbeat("http://vrm.test", HOST_ID, "cnah_x", beat())
    return caught.value


def test_heartbeat_posts_with_the_host_credential_and_reads_the_ack() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"host_state": "normal"})

    link = VrmLink(transport=httpx.MockTransport(handler))
    ack = link.send_heartbeat("http://vrm.test/", HOST_ID, "cnah_x", beat())
    assert ack.host_state == "normal"
    assert seen[0].url.path == f"/api/v1/agents/{HOST_ID}/heartbeat"
    assert seen[0].headers["authorization"] == "Bearer cnah_x"


def test_503_with_retry_after_is_retryable_and_says_how_long() -> None:
    body = {"error": {"code": "overloaded", "message": "busy", "details": {}}}
    error = refused(httpx.Response(503, json=body, headers={"Retry-After": "7"}))
    assert error.retryable
    assert error.retry_after == 7.0
    assert str(error) == "overloaded: busy"


def test_429_is_retryable_with_fractional_retry_after() -> None:
    error = refused(httpx.Response(429, text="slow down", headers={"Retry-After": "2.5"}))
    assert error.retryable
    assert error.retry_after == 2.5
    assert str(error) == "HTTP 429: slow down"


def test_other_refusals_are_final_and_name_no_wait() -> None:
    body = {"error": {"code": "invalid_host_credential", "message": "no", "details": {}}}
    error = refused(httpx.Response(401, json=body))
    assert not error.retryable
    assert error.retry_after is None


def test_transport_errors_are_retryable_without_a_wait() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    link = VrmLink(transport=httpx.MockTransport(handler))
    with pytest.raises(VrmLinkError) as caught:
        link.send_heartbeat("http://vrm.test", HOST_ID, "cnah_x", beat())
    assert caught.value.retryable
    assert caught.value.retry_after is None


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("0", 0.0),
        (" 30 ", 30.0),
        ("1.5", 1.5),
        ("Wed, 01 Dec 2026 12:00:10 GMT", 10.0),
        ("Wed, 01 Dec 2026 11:00:00 GMT", 0.0),
        ("-3", None),
        ("inf", None),
        ("nan", None),
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_after_values(value: str | None, seconds: float | None) -> None:
    now = datetime(2026, 12, 1, 12, 0, 0, tzinfo=UTC)
    assert retry_after_s(value, now) == seconds


class _Vrm(BaseHTTPRequestHandler):
    """A VRM that acknowledges heartbeats and remembers which connection each came on."""

    protocol_version = "HTTP/1.1"  # keep-alive
    peers: list[tuple[str, int]]

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.peers.append(self.client_address)
        body = b'{"host_state": "normal"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


@pytest.fixture
def vrm() -> Iterator[tuple[str, list[tuple[str, int]]]]:
    peers: list[tuple[str, int]] = []
    handler = type("Vrm", (_Vrm,), {"peers": peers})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", peers
    server.shutdown()
    server.server_close()
    thread.join()


def test_heartbeats_reuse_one_connection_until_closed(
    vrm: tuple[str, list[tuple[str, int]]],
) -> None:
    url, peers = vrm
    link = VrmLink()
    for _ in range(3):
        link.send_heartbeat(url, HOST_ID, "cnah_x", beat())
    assert len(peers) == 3
    assert len(set(peers)) == 1, "every heartbeat on the same kept-alive connection"
    link.close()
    assert link.closed
