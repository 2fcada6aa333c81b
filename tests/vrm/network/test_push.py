"""DVS and port group changes queue one network sync per host of the site.

No task worker runs here: the tasks stay queued, which shows what would be pushed. The
flow itself runs against a real agent in tests/e2e/test_networking.py.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.factories import add_host
from tests.vrm.network.api import make_dvs, make_port_group
from tests.vrm.network.factories import add_cluster
from vrm.models import Site, Task
from vrm.models.enums import TaskState
from vrm.network.push import SYNC, sync_host


def syncs(session: Session) -> list[Task]:
    session.expire_all()
    stmt = select(Task).where(Task.type == SYNC).order_by(Task.created_at)
    return list(session.scalars(stmt))


def hosts(session: Session, count: int) -> list[uuid.UUID]:
    cluster = add_cluster(session)
    return [add_host(session, cluster.id, name=f"n{i}").id for i in range(count)]


def test_every_change_queues_one_sync_per_host_of_the_site(
    client: TestClient, session: Session
) -> None:
    nodes = hosts(session, 2)
    dvs = make_dvs(client, "dvs1")
    queued = syncs(session)
    assert sorted(t.target_id for t in queued) == sorted(nodes)
    assert all(t.target_type == "host" and t.params == {"remove": []} for t in queued)
    # Still queued: later changes fold into the same tasks.
    group = make_port_group(client, dvs["id"], "pg", vlan_id=10)
    client.patch(f"/api/v1/port-groups/{group['id']}", json={"vlan_id": 11})
    client.delete(f"/api/v1/port-groups/{group['id']}")
    assert len(syncs(session)) == 2
    deleted = client.delete(f"/api/v1/dvs/{dvs['id']}")
    assert deleted.status_code == 204, deleted.text
    assert [t.params for t in syncs(session)] == [{"remove": [dvs["bridge"]]}] * 2


def test_a_sync_already_running_gets_a_new_one_after_it(
    client: TestClient, session: Session
) -> None:
    hosts(session, 1)
    first: Any = make_dvs(client, "dvs1")
    (running,) = syncs(session)
    running.state = TaskState.RUNNING
    session.commit()
    client.patch(f"/api/v1/dvs/{first['id']}", json={"mtu": 9000})
    assert [t.state for t in syncs(session)] == [TaskState.RUNNING, TaskState.QUEUED]


def test_hosts_of_other_sites_are_left_alone(client: TestClient, session: Session) -> None:
    hosts(session, 1)
    site = Site(name="far")
    session.add(site)
    session.commit()
    make_dvs(client, "far-dvs", site_id=str(site.id))
    assert syncs(session) == []


def test_sync_host_folds_removals_into_a_queued_task(session: Session) -> None:
    (node,) = hosts(session, 1)
    task = sync_host(session, node, user_id=None, remove=["ovs-a"])
    assert task is not None
    assert sync_host(session, node, user_id=None, remove=["ovs-b", "ovs-a"]) is None
    session.refresh(task)
    assert task.params == {"remove": ["ovs-a", "ovs-b"]}


def test_a_host_of_a_site_without_dvs_gets_no_sync(client: TestClient, session: Session) -> None:
    (node,) = hosts(session, 1)
    assert sync_host(session, node, user_id=None) is None, "nothing to realize, nothing queued"
    assert syncs(session) == []
    make_dvs(client)
    session.query(Task).delete()
    assert sync_host(session, node, user_id=None) is not None
    assert len(syncs(session)) == 1
