"""Realizing DVSs on the nodes: one ``host.sync_networks`` task per host.

Every change to a DVS or a port group queues, for each host of the DVS's site, a task
that makes the host's networks match VRM (every DVS of the site with all its port
groups; see ``vrm.network.flows``), and removes the bridges of deleted DVSs. A host
that joins later, or comes back from ``fault``, gets the same task when it turns
``normal`` (``vrm.agents.heartbeat``). A host that already has such a task still
queued gets no second one: the queued task reads VRM's state when it runs, and only
learns the bridges to remove.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from vrm.models import Cluster, Host, Task
from vrm.models.enums import TaskState
from vrm.network.repository import DvsRepository
from vrm.repository import changed_one
from vrm.tasks.service import queue_task
from vrm.tasks.types import TaskType

SYNC = TaskType.HOST_SYNC_NETWORKS


def push_site(
    session: Session,
    site_id: uuid.UUID,
    *,
    user_id: uuid.UUID | None,
    remove: Sequence[str] = (),
) -> list[Task]:
    """Queue a network sync on every host of the site; the tasks queued (new ones only)."""
    stmt = select(Host.id).join(Cluster, Cluster.id == Host.cluster_id)
    host_ids = session.scalars(stmt.where(Cluster.site_id == site_id).order_by(Host.name)).all()
    queued = [sync_host(session, host_id, user_id=user_id, remove=remove) for host_id in host_ids]
    return [task for task in queued if task is not None]


def sync_host(
    session: Session,
    host_id: uuid.UUID,
    *,
    user_id: uuid.UUID | None,
    remove: Sequence[str] = (),
) -> Task | None:
    """Queue the host's network sync, or fold ``remove`` into one still queued (None).

    Nothing is queued for a host whose site has no DVS when there is nothing to remove:
    1,000 hosts coming back after an outage would otherwise each get a task doing nothing.
    """
    if not remove and not DvsRepository(session).any_for_host(host_id):
        return None
    waiting = session.scalars(
        select(Task).where(
            Task.type == SYNC, Task.target_id == host_id, Task.state == TaskState.QUEUED
        )
    ).first()
    if waiting is not None:
        merged = sorted({*waiting.params.get("remove", []), *remove})
        # Only while it is still queued: a worker may be claiming it right now.
        result = session.execute(
            update(Task)
            .where(Task.id == waiting.id, Task.state == TaskState.QUEUED)
            .values(params={**waiting.params, "remove": merged})
            .execution_options(synchronize_session=False)
        )
        if changed_one(result):
            session.expire(waiting)
            return None
    return queue_task(
        session,
        type=SYNC,
        target_type="host",
        target_id=host_id,
        user_id=user_id,
        params={"remove": sorted(set(remove))},
    )
