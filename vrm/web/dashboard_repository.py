"""SQL for the dashboard and the host and cluster pages: grouped counts, never a row per VM.

Every figure over VMs or volumes is a ``GROUP BY`` in the database, so the dashboard
costs the same handful of statements with ten VMs or ten thousand.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import RowMapping, Select, func, select
from sqlalchemy.orm import Session

from vrm.models import Alarm, Cluster, Datastore, Host, HostDatastore, Task, Vm, Volume
from vrm.models.enums import AlarmState

# The host columns capacity is computed from (see ``vrm.scheduler.views``).
_CAPACITY_COLUMNS = (
    Host.id,
    Host.cluster_id,
    Host.state,
    Host.cpu_sockets,
    Host.cpu_cores,
    Host.cpu_threads,
    Host.capabilities["cpus"].as_integer().label("reported_cpus"),
    Host.memory_mib,
    Host.placed_vcpus,
    Host.placed_memory_mib,
)


class DashboardRepository:
    """Counts by state, capacity rows, datastore usage, the latest alarms and tasks."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def _rows(self, stmt: Select[*tuple[Any, ...]]) -> Sequence[RowMapping]:
        return self.session.execute(stmt).mappings().all()

    def cluster_count(self) -> int:
        """How many clusters there are."""
        return self.session.scalar(select(func.count()).select_from(Cluster)) or 0

    def host_states(self) -> dict[str, int]:
        """How many hosts are in each state."""
        stmt = select(Host.state, func.count()).group_by(Host.state)
        return {str(state): n for state, n in self.session.execute(stmt)}

    def vm_states(self) -> dict[str, int]:
        """How many VMs (templates aside) are in each state."""
        stmt = select(Vm.state, func.count()).where(Vm.is_template.is_(False)).group_by(Vm.state)
        return {str(state): n for state, n in self.session.execute(stmt)}

    def clusters(self, ids: Collection[uuid.UUID] | None = None) -> Sequence[RowMapping]:
        """Clusters by name (all, or those of ``ids``) with their overcommit ratios."""
        stmt = select(Cluster.id, Cluster.name, Cluster.cpu_overcommit, Cluster.mem_overcommit)
        if ids is not None:
            stmt = stmt.where(Cluster.id.in_(list(ids)))
        return self._rows(stmt.order_by(Cluster.name, Cluster.id))

    def capacity_rows(
        self,
        *,
        cluster_ids: Collection[uuid.UUID] | None = None,
        host_ids: Collection[uuid.UUID] | None = None,
    ) -> Sequence[RowMapping]:
        """Per host (of some clusters, or some hosts): what capacity is counted from and
        what its VMs claim."""
        stmt = select(*_CAPACITY_COLUMNS)
        if cluster_ids is not None:
            stmt = stmt.where(Host.cluster_id.in_(list(cluster_ids)))
        if host_ids is not None:
            stmt = stmt.where(Host.id.in_(list(host_ids)))
        return self._rows(stmt)

    def hosts_per_cluster(self, cluster_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, int]:
        """How many hosts each of ``cluster_ids`` has."""
        return self._counts(Host.cluster_id, Host.cluster_id.in_(list(cluster_ids)))

    def vms_per_cluster(self, cluster_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, int]:
        """How many VMs (templates aside) each of ``cluster_ids`` has."""
        return self._counts(
            Vm.cluster_id, Vm.cluster_id.in_(list(cluster_ids)), Vm.is_template.is_(False)
        )

    def vms_per_host(self, host_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, int]:
        """How many VMs (templates aside) each of ``host_ids`` carries."""
        return self._counts(Vm.host_id, Vm.host_id.in_(list(host_ids)), Vm.is_template.is_(False))

    def _counts(self, key: Any, *where: Any) -> dict[uuid.UUID, int]:
        """How many rows matching ``where`` each value of ``key`` has."""
        stmt = select(key, func.count()).where(*where).group_by(key)
        return {value: n for value, n in self.session.execute(stmt) if value is not None}

    def datastores(self, limit: int) -> Sequence[RowMapping]:
        """The fullest datastores first, with what their volumes are provisioned."""
        provisioned = (
            select(Volume.datastore_id, func.sum(Volume.capacity_mib).label("mib"))
            .group_by(Volume.datastore_id)
            .subquery()
        )
        used = Datastore.allocated_mib * 1.0 / func.nullif(Datastore.capacity_mib, 0)
        stmt = (
            select(
                Datastore.id,
                Datastore.name,
                Datastore.type,
                Datastore.state,
                Datastore.capacity_mib,
                Datastore.allocated_mib,
                func.coalesce(provisioned.c.mib, 0).label("provisioned_mib"),
            )
            .outerjoin(provisioned, provisioned.c.datastore_id == Datastore.id)
            .order_by(func.coalesce(used, 0).desc(), Datastore.name)
            .limit(limit)
        )
        return self._rows(stmt)

    def datastore_totals(self) -> RowMapping:
        """How many datastores, their capacity and allocation summed."""
        stmt = select(
            func.count().label("count"),
            func.coalesce(func.sum(Datastore.capacity_mib), 0).label("capacity_mib"),
            func.coalesce(func.sum(Datastore.allocated_mib), 0).label("allocated_mib"),
        ).select_from(Datastore)
        return self.session.execute(stmt).mappings().one()

    def active_alarms(self) -> dict[str, int]:
        """How many alarms are active, per severity."""
        stmt = (
            select(Alarm.severity, func.count())
            .where(Alarm.state == AlarmState.ACTIVE)
            .group_by(Alarm.severity)
        )
        return {str(severity): n for severity, n in self.session.execute(stmt)}

    def latest_alarms(self, limit: int) -> Sequence[RowMapping]:
        """The most recently raised active alarms."""
        stmt = (
            select(
                Alarm.id,
                Alarm.code,
                Alarm.severity,
                Alarm.message,
                Alarm.target_type,
                Alarm.target_id,
                Alarm.raised_at,
            )
            .where(Alarm.state == AlarmState.ACTIVE)
            .order_by(Alarm.raised_at.desc(), Alarm.id)
            .limit(limit)
        )
        return self._rows(stmt)

    def latest_tasks(self, limit: int) -> Sequence[RowMapping]:
        """The most recently created tasks."""
        stmt = (
            select(
                Task.id,
                Task.type,
                Task.state,
                Task.progress,
                Task.target_type,
                Task.target_id,
                Task.error_code,
                Task.created_at,
            )
            .order_by(Task.created_at.desc(), Task.id)
            .limit(limit)
        )
        return self._rows(stmt)

    def busiest_hosts(self, limit: int) -> Sequence[RowMapping]:
        """The hosts with the highest reported CPU use first (then by name)."""
        load = func.coalesce(Host.usage["cpu_percent"].as_float(), -1.0)
        stmt = (
            select(
                Host.id,
                Host.name,
                Host.state,
                Host.cluster_id,
                Host.usage,
                Host.memory_mib,
                Host.last_heartbeat_at,
            )
            .order_by(load.desc(), Host.name)
            .limit(limit)
        )
        return self._rows(stmt)

    def host_datastores(self, host_id: uuid.UUID) -> Sequence[RowMapping]:
        """The datastores a host reaches, by name."""
        stmt = (
            select(
                Datastore.id,
                Datastore.name,
                Datastore.type,
                Datastore.state,
                Datastore.capacity_mib,
                Datastore.allocated_mib,
                HostDatastore.mounted,
                HostDatastore.pool_name,
            )
            .join(HostDatastore, HostDatastore.datastore_id == Datastore.id)
            .where(HostDatastore.host_id == host_id)
            .order_by(Datastore.name)
        )
        return self._rows(stmt)

    def cluster_hosts(self, cluster_id: uuid.UUID) -> Sequence[RowMapping]:
        """A cluster's hosts by name, with what capacity is counted from."""
        stmt = select(*_CAPACITY_COLUMNS, Host.name, Host.state, Host.usage).where(
            Host.cluster_id == cluster_id
        )
        return self._rows(stmt.order_by(Host.name))

    def cluster_vm_choices(self, cluster_id: uuid.UUID, limit: int) -> Sequence[RowMapping]:
        """The first VMs of a cluster by name (templates aside): what a rule may name."""
        stmt = (
            select(Vm.id, Vm.name)
            .where(Vm.cluster_id == cluster_id, Vm.is_template.is_(False))
            .order_by(Vm.name, Vm.id)
            .limit(limit)
        )
        return self._rows(stmt)

    def vm_names(self, ids: Collection[uuid.UUID]) -> dict[uuid.UUID, str]:
        """The names of the VMs among ``ids``."""
        if not ids:
            return {}
        stmt = select(Vm.id, Vm.name).where(Vm.id.in_(list(ids)))
        return dict(self.session.execute(stmt).all())
