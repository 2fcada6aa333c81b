"""The dashboard's figures from a known set of rows, and the page that shows them."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import event
from sqlalchemy.orm import Session

from tests import factories
from tests.vrm.web.conftest import HTML, WebLogin
from vrm.models import Cluster, Host, Vm
from vrm.models.base import utcnow
from vrm.models.enums import AlarmState, HostState, Severity, TaskState, VmState
from vrm.scheduler.views import HOST_RESERVED_MIB
from vrm.sites.repository import DEFAULT_SITE_ID
from vrm.web.service import Allocation, dashboard, usage_of

pytestmark = pytest.mark.db


def add_cluster(session: Session, name: str, cpu: float = 1.0, memory: float = 1.0) -> Cluster:
    """A cluster with overcommit ratios."""
    cluster = Cluster(site_id=DEFAULT_SITE_ID, name=name, cpu_overcommit=cpu, mem_overcommit=memory)
    session.add(cluster)
    session.commit()
    return cluster


def place(session: Session, vm: Vm, host: Host, state: VmState = VmState.RUNNING) -> None:
    """Put a VM on a host (the host's placed counters follow on flush)."""
    vm.host_id = host.id
    vm.state = state
    session.commit()


def report(session: Session, host: Host, cpu: float, used_mib: int) -> None:
    """What a heartbeat would have written for ``host``."""
    host.usage = {
        "cpu_percent": cpu,
        "memory_total_mib": host.memory_mib,
        "memory_used_mib": used_mib,
        "memory_free_mib": host.memory_mib - used_mib,
        "sampled_at": utcnow().isoformat(),
    }
    host.last_heartbeat_at = utcnow()
    session.commit()


@pytest.fixture
def inventory(session: Session) -> dict[str, uuid.UUID]:
    """Two clusters, three hosts, seven VMs, a datastore with volumes, alarms and tasks."""
    dense = add_cluster(session, "dense", cpu=2.0, memory=1.5)
    plain = add_cluster(session, "plain")
    busy = factories.add_host(session, dense.id, name="busy")  # 1 x 4 x 8 CPUs, 16 GiB
    idle = factories.add_host(session, dense.id, name="idle")
    idle.state = HostState.FAULT
    lone = factories.add_host(session, plain.id, name="lone")
    for _ in range(3):
        place(session, factories.add_vm(session, dense.id), busy)
    place(session, factories.add_vm(session, dense.id), busy, VmState.PAUSED)
    place(session, factories.add_vm(session, plain.id), lone)
    for cluster in (dense, plain):  # stopped, on no host: claims nothing
        factories.add_vm(session, cluster.id).state = VmState.STOPPED
    template = factories.add_vm(session, plain.id)
    template.is_template = True
    session.commit()
    report(session, busy, 73.5, 8192)
    store = factories.add_datastore(session, name="fast")
    store.capacity_mib, store.allocated_mib = 10_000, 7_500
    session.commit()
    factories.add_volume(session, store.id, capacity_mib=3000)
    factories.add_volume(session, store.id, capacity_mib=2000)
    empty = factories.add_datastore(session, name="empty")
    empty.capacity_mib = 5_000
    session.commit()
    factories.add_alarm(session, severity=Severity.CRITICAL)
    factories.add_alarm(session, severity=Severity.MAJOR)
    factories.add_alarm(session, state=AlarmState.CLEARED)
    start = utcnow() - timedelta(minutes=30)
    for n in range(12):
        factories.add_task(session, type="vm.start", created_at=start + timedelta(minutes=n))
    factories.add_task(session, type="vm.stop", state=TaskState.RUNNING, created_at=utcnow())
    return {"dense": dense.id, "plain": plain.id, "busy": busy.id, "store": store.id}


def test_counts_by_state(session: Session, inventory: dict[str, uuid.UUID]) -> None:
    board = dashboard(session)
    assert board.clusters == 2
    assert board.host_states == {"normal": 2, "fault": 1}
    assert board.vm_states == {"running": 4, "paused": 1, "stopped": 2}  # the template aside
    assert board.vm_total == 7
    assert board.alarm_counts == {"critical": 1, "major": 1}
    assert board.alarm_total == 2
    assert [a["severity"] for a in board.alarms] == [Severity.MAJOR, Severity.CRITICAL]


def test_allocation_per_cluster_after_overcommit(
    session: Session, inventory: dict[str, uuid.UUID]
) -> None:
    loads = {load.name: load.allocation for load in dashboard(session).cluster_loads}
    # dense: two hosts of 32 logical CPUs x 2.0 and 16384 MiB x 1.5 less the host reserve;
    # four placed VMs of 1 vCPU and 512 MiB (the stopped one on no host claims nothing).
    assert loads["dense"] == Allocation(
        vcpus=4,
        vcpu_capacity=2 * 64,
        memory_mib=4 * 512,
        memory_capacity_mib=2 * (24576 - HOST_RESERVED_MIB),
    )
    assert loads["plain"] == Allocation(1, 32, 512, 16384 - HOST_RESERVED_MIB)
    assert dashboard(session).allocation.vcpus == 5


def test_datastore_usage(session: Session, inventory: dict[str, uuid.UUID]) -> None:
    board = dashboard(session)
    first, second = board.datastores
    assert (first["name"], first["capacity_mib"], first["allocated_mib"]) == ("fast", 10_000, 7_500)
    assert first["provisioned_mib"] == 5000
    assert (second["name"], second["provisioned_mib"]) == ("empty", 0)
    totals = board.datastore_totals
    assert (totals["count"], totals["capacity_mib"], totals["allocated_mib"]) == (2, 15_000, 7_500)


def test_latest_tasks_and_busiest_hosts(session: Session, inventory: dict[str, uuid.UUID]) -> None:
    board = dashboard(session)
    assert len(board.tasks) == 10
    assert board.tasks[0]["type"] == "vm.stop"
    busy = board.hosts[0]
    assert (busy.name, busy.usage.cpu_percent, busy.usage.memory_percent) == ("busy", 73.5, 50.0)
    assert {h.name for h in board.hosts} == {"busy", "idle", "lone"}


def test_usage_of_odd_reports_is_empty() -> None:
    assert usage_of(None).cpu_percent is None
    odd = usage_of({"cpu_percent": "x", "memory_used_mib": True, "memory_total_mib": 0})
    assert (odd.cpu_percent, odd.memory_used_mib, odd.memory_percent) == (None, None, None)


def test_the_page_shows_the_figures(web_login: WebLogin, inventory: dict[str, uuid.UUID]) -> None:
    client = web_login("dana", "viewer")
    answer = client.get("/", headers=HTML)
    assert answer.status_code == 200
    html = answer.text
    assert re.search(r'data-count="vms">7<', html)
    assert re.search(r'data-count="hosts">3<', html)
    assert re.search(r'data-count="vm-running">\s*running 4<', html)
    assert re.search(r'data-count="alarms">2<', html)
    assert "4 / 128" in html  # dense: vCPUs allocated / capacity
    assert "2.0 GiB / 47.0 GiB" in html  # 2048 MiB of 2 x 24064 MiB
    assert f'data-host-usage="{inventory["busy"]}" data-kind="cpu" data-value="73.5"' in html
    assert html.count("data-task-row=") == 10
    assert "data-live-page" in html
    assert "<script>" not in html


def test_the_page_in_chinese(web_login: WebLogin, inventory: dict[str, uuid.UUID]) -> None:
    client = web_login("li", "viewer")
    html = client.get("/", headers={**HTML, "Accept-Language": "zh-CN"}).text
    for label in ("概览", "集群分配", "主机使用率", "最近任务", "活动告警"):
        assert label in html, label


def test_an_empty_system_renders(web_login: WebLogin) -> None:
    client = web_login("eve", "viewer")
    answer = client.get("/", headers=HTML)
    assert answer.status_code == 200
    assert "No hosts yet" in answer.text


def test_figures_take_a_fixed_number_of_statements(
    session: Session, inventory: dict[str, uuid.UUID]
) -> None:
    """More VMs do not mean more statements: every VM figure is grouped in SQL."""

    def statements() -> int:
        seen: list[object] = []

        def listener(*args: object) -> None:
            seen.append(args[2])  # the statement

        engine = session.get_bind()
        event.listen(engine, "before_cursor_execute", listener)
        try:
            dashboard(session)
        finally:
            event.remove(engine, "before_cursor_execute", listener)
        return len(seen)

    before = statements()
    assert before > 5
    for _ in range(20):
        factories.add_vm(session, inventory["dense"])
    assert statements() == before
