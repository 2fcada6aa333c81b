"""Attaching a shared datastore to a host: the node realizes it as a storage pool, and
VRM records that the host reaches it (``host_datastores``).

A ``shared_dir`` datastore is a directory every host sees at the same path (a cluster
filesystem, or a mount the operator made); an ``nfs`` one is mounted by libvirt at
``/mnt/openvrm/<pool>``. Local datastores belong to their host and are never attached
elsewhere. The work is a task (``host.mount_datastore``): the node may take a while to
mount, and VRM must not hold a request open meanwhile.
"""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from cna_agent.protocol import PoolSpec, PoolType
from vrm.audit.service import record
from vrm.auth.principal import Principal
from vrm.crud import get_or_404
from vrm.errors import Conflict
from vrm.hosts.repository import HostRepository
from vrm.hosts.states import SCHEDULABLE
from vrm.models import Datastore, Host, HostDatastore, Task
from vrm.models.enums import DatastoreType
from vrm.storage.repository import DatastoreRepository
from vrm.tasks.flow import Flow, TaskFailure
from vrm.tasks.service import queue_task
from vrm.tasks.types import TaskType

NFS_MOUNT_ROOT = "/mnt/openvrm"


def pool_name(datastore: Datastore) -> str:
    """The pool name every host uses for a shared datastore."""
    return f"ds-{datastore.id.hex[:16]}"


def pool_spec(datastore: Datastore) -> PoolSpec:
    """The datastore as a node realizes it."""
    name = pool_name(datastore)
    if datastore.type is DatastoreType.NFS:
        path = f"{NFS_MOUNT_ROOT}/{name}"
        return PoolSpec(name=name, type=PoolType.NETFS, path=path, source=datastore.source)
    return PoolSpec(name=name, type=PoolType.DIR, path=datastore.source)


def attach(
    session: Session, *, actor: Principal, datastore_id: uuid.UUID, host_id: uuid.UUID
) -> Task:
    """Queue the attachment of a shared datastore to a normal host of its site."""
    datastore = get_or_404(DatastoreRepository(session), datastore_id, "datastore")
    host = get_or_404(HostRepository(session), host_id, "host")
    if datastore.type is DatastoreType.LOCAL_DIR:
        raise Conflict(
            f"datastore {datastore.name} is local to its host; only shared datastores "
            "are attached to other hosts",
            code="datastore_not_shared",
        )
    if host.state not in SCHEDULABLE:
        raise Conflict(
            f"host {host.name} is {host.state.value}; attach datastores to normal hosts",
            code="host_not_normal",
        )
    task = queue_task(
        session,
        type=TaskType.HOST_MOUNT_DATASTORE,
        target_type="host",
        target_id=host.id,
        user_id=actor.user_id,
        params={"datastore_id": str(datastore.id)},
    )
    record(
        session,
        actor=actor,
        action="datastore.attach",
        target_type="datastore",
        target_id=datastore.id,
        details={"host_id": str(host.id), "task_id": str(task.id)},
    )
    return task


class MountDatastoreFlow(Flow):
    """A host's node realizes a shared datastore; VRM records that the host reaches it."""

    type = TaskType.HOST_MOUNT_DATASTORE
    steps = ("mount",)

    def mount(self) -> None:
        session = self.ctx.session
        host = session.get(Host, self.ctx.task.target_id)
        datastore = session.get(Datastore, uuid.UUID(str(self.ctx.params["datastore_id"])))
        if host is None or datastore is None:
            raise TaskFailure("the host or the datastore was removed", code="not_found")
        spec = pool_spec(datastore)
        report = self.ctx.agent(host.id).ensure_pool(spec)
        link = session.get(HostDatastore, (host.id, datastore.id))
        if link is None:
            link = HostDatastore(host_id=host.id, datastore_id=datastore.id, pool_name=spec.name)
            session.add(link)
        link.pool_name, link.mounted = spec.name, report.active
        datastore.capacity_mib = report.capacity_mib
        datastore.allocated_mib = report.allocation_mib
