"""What the VM detail page and the task centre read besides the domains' own reads:
names of the objects a page links to, a VM's volumes, snapshots, tasks and events."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from sqlalchemy import RowMapping, select
from sqlalchemy.orm import Session

from vrm.listing import ListParams
from vrm.models import (
    Cluster,
    Datastore,
    Event,
    Host,
    HostDatastore,
    Image,
    PortGroup,
    Task,
    User,
    Vm,
    VmSnapshot,
    Volume,
)
from vrm.tasks.repository import TaskRepository

# What a row of the task centre shows (params and result stay on the task's own page).
TASK_COLUMNS = (
    Task.id,
    Task.type,
    Task.state,
    Task.progress,
    Task.step,
    Task.target_type,
    Task.target_id,
    Task.error_code,
    Task.error_message,
    Task.attempts,
    Task.created_at,
    Task.updated_at,
    Task.finished_at,
)
# The named objects a task may be about, by its ``target_type``.
_NAMED: dict[str, Any] = {"vm": Vm, "host": Host, "cluster": Cluster, "image": Image}


class VmPageRepository:
    """Around one VM: its volumes, port groups, media, snapshots, tasks and events."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def volumes(self, ids: Collection[uuid.UUID]) -> dict[uuid.UUID, RowMapping]:
        """``volume_id -> {name, capacity_mib, datastore_id, datastore}``."""
        if not ids:
            return {}
        stmt = (
            select(
                Volume.id,
                Volume.name,
                Volume.capacity_mib,
                Volume.datastore_id,
                Datastore.name.label("datastore"),
            )
            .join(Datastore, Datastore.id == Volume.datastore_id)
            .where(Volume.id.in_(list(ids)))
        )
        return {row["id"]: row for row in self.session.execute(stmt).mappings()}

    def migration_hosts(
        self, cluster_id: uuid.UUID, host_id: uuid.UUID | None
    ) -> Sequence[RowMapping]:
        """The hosts a VM of ``cluster_id`` on ``host_id`` could move to, by name."""
        stmt = (
            select(Host.id, Host.name, Host.state)
            .where(Host.cluster_id == cluster_id, Host.id != host_id)
            .order_by(Host.name, Host.id)
        )
        return self.session.execute(stmt).mappings().all()

    def migration_datastores(self, cluster_id: uuid.UUID) -> Sequence[RowMapping]:
        """The datastores some host of ``cluster_id`` reaches, by name, with free space."""
        reached = (
            select(HostDatastore.datastore_id)
            .join(Host, Host.id == HostDatastore.host_id)
            .where(Host.cluster_id == cluster_id, HostDatastore.mounted.is_(True))
        )
        stmt = (
            select(
                Datastore.id,
                Datastore.name,
                (Datastore.capacity_mib - Datastore.allocated_mib).label("free_mib"),
            )
            .where(Datastore.id.in_(reached))
            .order_by(Datastore.name, Datastore.id)
        )
        return self.session.execute(stmt).mappings().all()

    def port_group_names(self, ids: Collection[uuid.UUID]) -> dict[uuid.UUID, str]:
        """``port_group_id -> name``."""
        return _names(self.session, PortGroup, ids)

    def image_names(self, ids: Collection[uuid.UUID]) -> dict[uuid.UUID, str]:
        """``image_id -> name``."""
        return _names(self.session, Image, ids)

    def snapshots(self, vm_id: uuid.UUID) -> Sequence[RowMapping]:
        """A VM's snapshots, oldest first."""
        stmt = (
            select(VmSnapshot.name, VmSnapshot.description, VmSnapshot.created_at)
            .where(VmSnapshot.vm_id == vm_id)
            .order_by(VmSnapshot.created_at, VmSnapshot.name)
        )
        return self.session.execute(stmt).mappings().all()

    def tasks(self, vm_id: uuid.UUID, limit: int) -> Sequence[RowMapping]:
        """The VM's latest tasks, newest first."""
        stmt = (
            select(*TASK_COLUMNS)
            .where(Task.target_type == "vm", Task.target_id == vm_id)
            .order_by(Task.created_at.desc(), Task.id)
            .limit(limit)
        )
        return self.session.execute(stmt).mappings().all()

    def events(self, vm_id: uuid.UUID, limit: int) -> Sequence[RowMapping]:
        """The latest events about the VM, newest first."""
        stmt = (
            select(Event.id, Event.type, Event.severity, Event.message, Event.created_at)
            .where(Event.target_type == "vm", Event.target_id == vm_id)
            .order_by(Event.created_at.desc(), Event.id)
            .limit(limit)
        )
        return self.session.execute(stmt).mappings().all()


class TaskPageRepository:
    """The task centre's table and the names of the objects its tasks are about."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def page(
        self, params: ListParams, filters: Mapping[str, Any]
    ) -> tuple[Sequence[RowMapping], int]:
        """A page of tasks as plain rows (without their params and results)."""
        return TaskRepository(self.session).page_rows(TASK_COLUMNS, params, filters)

    def target_names(self, rows: Sequence[RowMapping]) -> dict[uuid.UUID, str]:
        """``target_id -> name`` for the tasks' VMs, hosts, clusters and images."""
        wanted: dict[str, set[uuid.UUID]] = {}
        for row in rows:
            if row["target_type"] in _NAMED and row["target_id"] is not None:
                wanted.setdefault(row["target_type"], set()).add(row["target_id"])
        names: dict[uuid.UUID, str] = {}
        for kind, ids in wanted.items():
            names.update(_names(self.session, _NAMED[kind], ids))
        return names

    def name_of(self, kind: str, ident: uuid.UUID | None) -> str | None:
        """The name of a VM, host, cluster or image, if it exists."""
        model = _NAMED.get(kind)
        if model is None or ident is None:
            return None
        name: str | None = self.session.scalar(select(model.name).where(model.id == ident))
        return name

    def user_name(self, user_id: uuid.UUID | None) -> str | None:
        """The name of the user who asked for a task."""
        if user_id is None:
            return None
        name: str | None = self.session.scalar(select(User.name).where(User.id == user_id))
        return name


def _names(session: Session, model: Any, ids: Collection[uuid.UUID]) -> dict[uuid.UUID, str]:
    """``id -> name`` of the objects of ``model`` among ``ids``."""
    if not ids:
        return {}
    stmt = select(model.id, model.name).where(model.id.in_(list(ids)))
    return {row.id: row.name for row in session.execute(stmt)}
