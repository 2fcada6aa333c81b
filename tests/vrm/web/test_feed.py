"""The WebUI's change feed on a real database of each backend (its writes commit)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, update
from sqlalchemy.orm import Session, sessionmaker

from tests.factories import add_vm
from vrm.db import make_session_factory
from vrm.load.admission import Admission
from vrm.models import Cluster, Vm
from vrm.models.base import utcnow
from vrm.models.enums import VmState
from vrm.sites.repository import DEFAULT_SITE_ID
from vrm.web import feed as feed_module
from vrm.web.feed import ChangeFeed, Listener

pytestmark = pytest.mark.db

WAIT_S = 10.0


@pytest.fixture
def factory(committed_engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(committed_engine)


@pytest.fixture
def cluster_id(factory: sessionmaker[Session]) -> uuid.UUID:
    with factory.begin() as session:
        cluster = Cluster(name=f"feed-{uuid.uuid4().hex[:8]}", site_id=DEFAULT_SITE_ID)
        session.add(cluster)
        session.flush()
        return cluster.id


def new_feed(factory: sessionmaker[Session]) -> ChangeFeed:
    return ChangeFeed(factory.begin, Admission(turns=2, queue=10, wait_s=5), interval_s=0.05)


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    """Run ``scenario`` on an event loop of its own thread (the browser tests' Playwright
    keeps a loop running in the main thread of the same pytest process)."""
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, asyncio.wait_for(scenario(), 60)).result()


async def items_of(listener: Listener, kind: str, item_id: uuid.UUID) -> list[dict[str, Any]]:
    """Every ``kind`` item about ``item_id`` the listener got until it is quiet for 0.5 s."""
    found: list[dict[str, Any]] = []
    while True:
        try:
            change = await asyncio.wait_for(listener.queue.get(), 0.5)
        except TimeoutError:
            return found
        assert change is not None
        got_kind, data = change
        item = json.loads(data)
        if got_kind == kind and item["id"] == str(item_id):
            found.append(item)


async def until(listener: Listener, kind: str, item_id: uuid.UUID, **fields: Any) -> None:
    """Wait until the listener gets a ``kind`` item about ``item_id`` with ``fields``."""
    async with asyncio.timeout(WAIT_S):
        while True:
            change = await listener.queue.get()
            assert change is not None
            item = json.loads(change[1])
            about = change[0] == kind and item["id"] == str(item_id)
            if about and all(item.get(name) == value for name, value in fields.items()):
                return


def test_a_change_reaches_every_listener_once(
    factory: sessionmaker[Session], cluster_id: uuid.UUID
) -> None:
    async def scenario() -> None:
        feed = new_feed(factory)
        first, second = feed.listen(), feed.listen()
        with factory() as session:
            vm = add_vm(session, cluster_id)
        for listener in (first, second):
            await until(listener, "vm", vm.id, state="creating", name=vm.name)
        with factory.begin() as session:
            session.execute(update(Vm).where(Vm.id == vm.id).values(state=VmState.STARTING))
        await until(first, "vm", vm.id, state="starting")
        await until(second, "vm", vm.id, state="starting")
        # Many looks later, nothing about the VM is sent again.
        assert await items_of(first, "vm", vm.id) == []
        await feed.stop()
        assert first.dropped

    run(scenario)


def test_a_commit_that_lands_after_a_look_is_not_missed(
    factory: sessionmaker[Session], cluster_id: uuid.UUID
) -> None:
    async def scenario() -> None:
        feed = new_feed(factory)
        listener = feed.listen()
        await asyncio.sleep(0.3)  # several looks pass
        # A transaction stamped a moment ago that commits only now.
        stamped = utcnow() - timedelta(seconds=1)
        with factory.begin() as session:
            vm = Vm(
                cluster_id=cluster_id,
                name=f"late-{uuid.uuid4().hex[:6]}",
                vcpus=1,
                max_vcpus=1,
                memory_mib=64,
                max_memory_mib=64,
                created_at=stamped,
                updated_at=stamped,
            )
            session.add(vm)
        await until(listener, "vm", vm.id, state="creating")
        await feed.stop()

    run(scenario)


def test_a_listener_that_cannot_keep_up_is_dropped(
    factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(feed_module, "QUEUE_SIZE", 3)

    async def scenario() -> None:
        feed = new_feed(factory)
        slow, fast = feed.listen(), feed.listen()
        changes = [("vm", json.dumps({"id": str(uuid.uuid4())})) for _ in range(3)]
        feed._deliver(fast, changes[:2])
        feed._deliver(slow, changes[:2])
        while not fast.queue.empty():
            fast.queue.get_nowait()
        feed._deliver(fast, changes[2:])
        feed._deliver(slow, changes[2:] * 2)  # 2 waiting + 2 more: over its 3
        assert slow.dropped
        assert not fast.dropped
        assert fast.queue.qsize() == 1
        await feed.stop()

    run(scenario)


def test_the_feed_rests_when_nobody_listens(factory: sessionmaker[Session]) -> None:
    async def scenario() -> None:
        feed = new_feed(factory)
        listener = feed.listen()
        task = feed._task
        assert task is not None
        feed.leave(listener)
        await asyncio.wait_for(task, WAIT_S)
        assert task.done()

    run(scenario)
