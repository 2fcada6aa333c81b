"""The import task against an agent answering through httpx's MockTransport: it follows
the node's operation, and after a VRM restart finds the one it started instead of
starting a second import of the same file (real agents: tests/e2e/test_images.py)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy.orm import Session

from tests.factories import add_datastore, add_host, add_task, link_host_datastore
from vrm.agents.directory import AgentClients
from vrm.config import Settings
from vrm.images import flows
from vrm.images.flows import ImportFlow
from vrm.models import Cluster, Image
from vrm.models.enums import ImageFormat, ImageSource, ImageState
from vrm.sites.repository import DEFAULT_SITE_ID
from vrm.tasks.flow import FlowContext

OP = uuid.uuid4()
REPORT = {
    "name": "img-x.iso",
    "pool": "pool",
    "path": "/pool/img-x.iso",
    "format": "iso",
    "size_bytes": 2048,
    "virtual_size_bytes": 2048,
    "sha256": "b" * 64,
}


def _operation(state: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": str(OP),
        "kind": "import_image",
        "target": "pool/img-x.iso",
        "state": state,
        "started_at": "2026-12-02T00:00:00Z",
        **extra,
    }


class FakeAgent:
    """Answers an import with a running operation that succeeds on its second poll."""

    def __init__(self, *, knows_operation: bool = True) -> None:
        self.knows_operation = knows_operation
        self.calls: list[str] = []
        self.polls = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(f"{request.method} {request.url.path}")
        if request.method == "POST" and request.url.path.endswith("/import"):
            assert json.loads(request.content)["url"] == "http://127.0.0.1:1/x.iso"
            self.knows_operation = True
            return httpx.Response(202, json=_operation("running", progress=10))
        if not self.knows_operation:
            error = {"code": "operation_not_found", "message": "unknown", "details": {}}
            return httpx.Response(404, json={"error": error})
        self.polls += 1
        if self.polls < 2:
            return httpx.Response(200, json=_operation("running", progress=60))
        return httpx.Response(200, json=_operation("succeeded", progress=100, result=REPORT))


@pytest.fixture
def start(session: Session, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., ImportFlow]]:
    """An image waiting for its import task, and the task's flow over a fake agent."""
    monkeypatch.setattr(flows, "POLL_S", 0.0)
    cluster = Cluster(name=f"c-{uuid.uuid4().hex[:6]}", site_id=DEFAULT_SITE_ID)
    session.add(cluster)
    session.commit()
    host = add_host(session, cluster.id)
    store = add_datastore(session)
    link_host_datastore(session, host.id, store.id)

    def flow(agent: FakeAgent, result: dict[str, Any] | None = None) -> ImportFlow:
        image = Image(
            name="x",
            format=ImageFormat.ISO,
            datastore_id=store.id,
            volume_name="img-x.iso",
            source=ImageSource.URL,
            source_ref="http://127.0.0.1:1/x.iso",
        )
        session.add(image)
        session.flush()
        task = add_task(session, type="image.import", target_type="image", target_id=image.id)
        task.params, task.result = {"host_id": str(host.id)}, result or {}
        session.commit()
        clients.append(AgentClients(transport=httpx.MockTransport(agent)))
        return ImportFlow(FlowContext(session, task, Settings(), clients=clients[-1]))

    clients: list[AgentClients] = []
    yield flow
    for pool in clients:
        pool.close()


def test_an_import_follows_the_nodes_operation(start: Callable[..., ImportFlow]) -> None:
    agent = FakeAgent()
    flow = start(agent)
    flow.fetch()
    assert flow.image.state is ImageState.READY
    assert (flow.image.sha256, flow.image.size_bytes) == ("b" * 64, 2048)
    assert flow.ctx.task.result == {"operation_id": str(OP)}
    assert [c.split()[0] for c in agent.calls] == ["POST", "GET", "GET"]


def test_a_resumed_import_finds_the_operation_it_started(
    start: Callable[..., ImportFlow],
) -> None:
    agent = FakeAgent()
    flow = start(agent, {"operation_id": str(OP)})
    flow.fetch()
    assert flow.image.state is ImageState.READY
    assert not any(c.startswith("POST") for c in agent.calls), "no second import"


def test_an_operation_the_agent_forgot_is_started_again(
    start: Callable[..., ImportFlow],
) -> None:
    agent = FakeAgent(knows_operation=False)
    flow = start(agent, {"operation_id": str(uuid.uuid4())})
    flow.fetch()
    assert flow.image.state is ImageState.READY
    assert [c.split()[0] for c in agent.calls][:2] == ["GET", "POST"]
