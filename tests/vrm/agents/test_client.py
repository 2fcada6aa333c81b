"""The VRM -> agent client's error classification, over httpx's MockTransport.

The same client runs against a real agent in tests/e2e.
"""

from __future__ import annotations

import ssl
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from cna_agent.protocol import Operation, OperationState, StopRequest
from vrm.agents.client import (
    AgentClient,
    AgentFailed,
    AgentRejected,
    AgentUnreachable,
    tls_context,
)


def client_for(handler: httpx.MockTransport) -> AgentClient:
    return AgentClient("http://agent.test:7070", "cnav_secret", transport=handler)


def error(status: int, code: str, retryable: bool = False) -> httpx.Response:
    body = {"error": {"code": code, "message": f"{code}!", "details": {"retryable": retryable}}}
    return httpx.Response(status, json=body)


def test_sends_credential_and_parses_answers() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(
            200, json=[{"uuid": str(uuid.UUID(int=1)), "name": "a", "state": "running"}]
        )

    domains = client_for(httpx.MockTransport(handler)).domains()
    assert domains[0].state == "running"
    assert seen[0].headers["authorization"] == "Bearer cnav_secret"
    assert seen[0].url.path == "/v1/vms"


def test_4xx_is_rejected_not_retryable() -> None:
    transport = httpx.MockTransport(lambda _r: error(404, "domain_not_found"))
    with pytest.raises(AgentRejected) as caught:
        client_for(transport).domain(uuid.uuid4())
    assert caught.value.code == "domain_not_found"
    assert caught.value.status == 404
    assert not caught.value.retryable


def test_5xx_follows_the_agents_retryable_flag() -> None:
    for retryable in (True, False):
        transport = httpx.MockTransport(lambda _r, r=retryable: error(502, "hypervisor_error", r))
        with pytest.raises(AgentFailed) as caught:
            client_for(transport).facts()
        assert caught.value.retryable is retryable


def test_non_json_error_bodies_are_classified_by_status() -> None:
    transport = httpx.MockTransport(lambda _r: httpx.Response(503, text="gateway down"))
    with pytest.raises(AgentFailed) as caught:
        client_for(transport).facts()
    assert caught.value.code == "http_503"
    assert caught.value.retryable


def test_transport_errors_are_unreachable_and_retryable() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(AgentUnreachable) as caught:
        client_for(httpx.MockTransport(handler)).facts()
    assert caught.value.retryable
    assert caught.value.code == "agent_unreachable"


def test_wait_polls_until_the_operation_ends_and_raises_its_error() -> None:
    op_id = uuid.uuid4()
    states = iter(["running", "failed"])

    def handler(request: httpx.Request) -> httpx.Response:
        state = next(states)
        body = Operation(
            id=op_id,
            kind="stop",
            target="vm",
            state=OperationState(state),
            started_at=datetime.now(UTC),
            error={
                "code": "operation_timeout",
                "message": "guest ignored ACPI",  # type: ignore[arg-type]
                "details": {"retryable": True},
            }
            if state == "failed"
            else None,
        )
        return httpx.Response(200, json=body.model_dump(mode="json"))

    client = client_for(httpx.MockTransport(handler))
    started = Operation(
        id=op_id,
        kind="stop",
        target="vm",
        state=OperationState.RUNNING,
        started_at=datetime.now(UTC),
    )
    with pytest.raises(AgentFailed) as caught:
        client.wait(started, timeout_s=10, poll_s=0)
    assert caught.value.code == "operation_timeout"
    assert caught.value.retryable


def test_stop_posts_the_request_body() -> None:
    bodies: list[bytes] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(request.content)
        op = Operation(
            id=uuid.uuid4(),
            kind="stop",
            target="vm",
            state=OperationState.SUCCEEDED,
            started_at=datetime.now(UTC),
        )
        return httpx.Response(202, json=op.model_dump(mode="json"))

    op = client_for(httpx.MockTransport(handler)).stop(uuid.uuid4(), StopRequest(force=True))
    assert op.state == "succeeded"
    assert b'"force":true' in bodies[0]


def test_a_closed_client_is_unreachable_and_retryable() -> None:
    client = client_for(httpx.MockTransport(lambda _r: httpx.Response(200, json=[])))
    client.close()
    assert client.closed
    with pytest.raises(AgentUnreachable) as caught:
        client.domains()
    assert caught.value.code == "agent_client_closed"
    assert caught.value.retryable


def test_clients_share_one_tls_context(monkeypatch: pytest.MonkeyPatch) -> None:
    shared = tls_context()
    made: list[ssl.SSLContext] = []
    create = ssl.create_default_context

    def counting(*args: Any, **kwargs: Any) -> ssl.SSLContext:
        made.append(create(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(ssl, "create_default_context", counting)
    clients = [AgentClient(f"https://agent-{i}.test:7070", "cnav_secret") for i in range(50)]
    for client in clients:
        client.close()
    assert made == [], "no client builds a TLS context of its own"
    assert tls_context() is shared
