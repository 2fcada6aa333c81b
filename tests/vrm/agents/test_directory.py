"""Pooled agent clients: one per host, reused across task steps, closed when replaced."""

from __future__ import annotations

import ssl
import threading
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy.orm import Session

from tests.factories import add_host, add_task
from tests.vrm.network.factories import add_cluster
from vrm.agents.client import AgentClient, tls_context
from vrm.agents.credentials import vrm_credential
from vrm.agents.directory import AgentClients, agent_for
from vrm.config import Settings
from vrm.tasks.flow import FlowContext

URL = "http://agent-a.test:7070"


def ok(_request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json=[])


def registry(max_hosts: int = 16) -> AgentClients:
    return AgentClients(max_hosts=max_hosts, transport=httpx.MockTransport(ok))


def test_the_same_host_gets_the_same_client() -> None:
    clients, host = registry(), uuid.uuid4()
    first = clients.get(host, URL, "cnav_a")
    assert clients.get(host, URL, "cnav_a") is first
    assert first.domains() == []
    assert not first.closed


def test_a_new_url_or_credential_gets_a_new_client_and_closes_the_old() -> None:
    clients, host = registry(), uuid.uuid4()
    first = clients.get(host, URL, "cnav_a")
    moved = clients.get(host, "http://agent-b.test:7070", "cnav_a")
    assert moved is not first
    assert first.closed
    rekeyed = clients.get(host, "http://agent-b.test:7070", "cnav_b")
    assert rekeyed is not moved
    assert moved.closed
    assert len(clients) == 1


def test_hosts_have_clients_of_their_own() -> None:
    clients = registry()
    a = clients.get(uuid.uuid4(), URL, "cnav_a")
    b = clients.get(uuid.uuid4(), "http://agent-b.test:7070", "cnav_b")
    assert a is not b
    assert not a.closed
    assert not b.closed


def test_the_least_recently_used_client_is_evicted_and_closed() -> None:
    clients = registry(max_hosts=2)
    hosts = [uuid.uuid4() for _ in range(3)]
    a = clients.get(hosts[0], URL, "cnav_a")
    b = clients.get(hosts[1], URL, "cnav_b")
    assert clients.get(hosts[0], URL, "cnav_a") is a, "a is now the most recently used"
    c = clients.get(hosts[2], URL, "cnav_c")
    assert b.closed
    assert not a.closed
    assert not c.closed
    assert len(clients) == 2
    assert clients.get(hosts[1], URL, "cnav_b") is not b, "an evicted host gets a fresh client"


def test_close_closes_every_client_and_the_registry_stays_usable() -> None:
    clients, host = registry(), uuid.uuid4()
    made = [clients.get(uuid.uuid4(), URL, f"cnav_{i}") for i in range(3)]
    clients.close()
    assert all(client.closed for client in made)
    assert len(clients) == 0
    assert not clients.get(host, URL, "cnav_a").closed


def test_threads_asking_for_one_host_share_one_client() -> None:
    clients, host = registry(), uuid.uuid4()
    barrier = threading.Barrier(16)
    got: list[AgentClient] = []
    lock = threading.Lock()

    def ask() -> None:
        barrier.wait()
        for _ in range(50):
            client = clients.get(host, URL, "cnav_a")
            client.domains()
            with lock:
                got.append(client)

    threads = [threading.Thread(target=ask) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(got) == 16 * 50
    assert len({id(client) for client in got}) == 1
    assert not got[0].closed


def test_many_clients_make_no_tls_context_of_their_own(monkeypatch: pytest.MonkeyPatch) -> None:
    tls_context()  # the shared one, built once per process
    made: list[ssl.SSLContext] = []
    create = ssl.create_default_context

    def counting(*args: Any, **kwargs: Any) -> ssl.SSLContext:
        made.append(create(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(ssl, "create_default_context", counting)
    clients = AgentClients()
    for i in range(200):
        clients.get(uuid.uuid4(), f"https://agent-{i}.test:7070", "cnav_x")
    clients.close()
    assert made == []


def test_agent_for_uses_the_hosts_url_and_credential(session: Session, settings: Settings) -> None:
    host = add_host(session, add_cluster(session).id)
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=[])

    clients = AgentClients(transport=httpx.MockTransport(handler))
    client = agent_for(session, settings, host.id, clients)
    assert agent_for(session, settings, host.id, clients) is client
    client.domains()
    assert str(seen[0].url) == f"{host.agent_url}/v1/vms"
    credential = vrm_credential(settings.secret_key, host.id)
    assert seen[0].headers["authorization"] == f"Bearer {credential}"


def test_steps_share_pooled_clients_and_never_close_them(
    session: Session, settings: Settings
) -> None:
    host = add_host(session, add_cluster(session).id)
    task = add_task(session, target_id=uuid.uuid4())
    clients = registry()
    first = FlowContext(session, task, settings, clients)
    first.agent(host.id).domains()
    with pytest.raises(AttributeError):
        first.agent(host.id).close()
    first.close()
    pooled = clients.get(host.id, host.agent_url, vrm_credential(settings.secret_key, host.id))
    assert not pooled.closed, "a step's end leaves the client open for the next step"
    second = FlowContext(session, task, settings, clients)
    second.agent(host.id).domains()
    assert len(clients) == 1
    second.close()


def test_a_step_commits_before_each_agent_call(session: Session, settings: Settings) -> None:
    host = add_host(session, add_cluster(session).id)
    task = add_task(session, target_id=uuid.uuid4())
    ctx = FlowContext(session, task, settings, registry())
    agent = ctx.agent(host.id)
    task.progress = 42
    assert session.in_transaction()
    agent.domains()
    assert not session.in_transaction(), "the step's writes were committed first"
    ctx.close()


def test_clients_come_from_the_factory_given(settings: Settings) -> None:
    made: list[tuple[str, str, float]] = []

    def factory(url: str, credential: str, timeout_s: float) -> AgentClient:
        made.append((url, credential, timeout_s))
        return AgentClient(url, credential, timeout_s=timeout_s)

    clients = AgentClients(factory=factory)
    host_id = uuid.uuid4()
    client = clients.get(host_id, "http://node:7070", "secret", timeout_s=5)
    assert made == [("http://node:7070", "secret", 5)]
    assert clients.get(host_id, "http://node:7070", "secret", timeout_s=5) is client
    assert len(made) == 1, "a pooled client is reused, not made again"
    clients.close()
