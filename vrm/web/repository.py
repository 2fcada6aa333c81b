"""What the WebUI's change feed reads: rows changed since a moment, as plain mappings."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import RowMapping, func, select
from sqlalchemy.orm import Session

from vrm.models import Alarm, Cluster, Event, Host, Site, Task, Vm

# At most this many rows of a kind per poll; a page that missed more reloads its list.
FEED_LIMIT = 500


class FeedRepository:
    """Recent changes of VMs, tasks, hosts, events and alarms."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def vms(self, since: datetime) -> Sequence[RowMapping]:
        """VMs changed since ``since`` (templates included)."""
        stmt = (
            select(
                Vm.id,
                Vm.name,
                Vm.state,
                Vm.task_state,
                Vm.host_id,
                Vm.cluster_id,
                Vm.vcpus,
                Vm.memory_mib,
                Vm.is_template,
                Vm.updated_at,
            )
            .where(Vm.updated_at > since)
            .order_by(Vm.updated_at)
            .limit(FEED_LIMIT)
        )
        return self.session.execute(stmt).mappings().all()

    def tasks(self, since: datetime) -> Sequence[RowMapping]:
        """Tasks changed since ``since``."""
        stmt = (
            select(
                Task.id,
                Task.type,
                Task.state,
                Task.progress,
                Task.step,
                Task.target_type,
                Task.target_id,
                Task.error_code,
                Task.error_message,
                Task.created_at,
                Task.updated_at,
            )
            .where(Task.updated_at > since)
            .order_by(Task.updated_at)
            .limit(FEED_LIMIT)
        )
        return self.session.execute(stmt).mappings().all()

    def hosts(self, since: datetime) -> Sequence[RowMapping]:
        """Hosts that reported or changed since ``since``."""
        stmt = select(
            Host.id, Host.name, Host.state, Host.usage, Host.last_heartbeat_at, Host.updated_at
        ).where((Host.last_heartbeat_at > since) | (Host.updated_at > since))
        return self.session.execute(stmt.limit(FEED_LIMIT)).mappings().all()

    def events(self, since: datetime) -> Sequence[RowMapping]:
        """Events recorded since ``since``."""
        stmt = (
            select(
                Event.id,
                Event.type,
                Event.severity,
                Event.message,
                Event.target_type,
                Event.target_id,
                Event.created_at,
            )
            .where(Event.created_at > since)
            .order_by(Event.created_at)
            .limit(FEED_LIMIT)
        )
        return self.session.execute(stmt).mappings().all()

    def alarms(self, since: datetime) -> Sequence[RowMapping]:
        """Alarms raised, cleared or acknowledged since ``since``."""
        stmt = (
            select(
                Alarm.id,
                Alarm.code,
                Alarm.severity,
                Alarm.state,
                Alarm.message,
                Alarm.target_type,
                Alarm.target_id,
                Alarm.updated_at,
            )
            .where(Alarm.updated_at > since)
            .order_by(Alarm.updated_at)
            .limit(FEED_LIMIT)
        )
        return self.session.execute(stmt).mappings().all()


class InventoryRepository:
    """The inventory tree: sites, clusters, hosts and how many VMs each holds."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def sites(self) -> Sequence[RowMapping]:
        """Every site by name."""
        return self.session.execute(select(Site.id, Site.name).order_by(Site.name)).mappings().all()

    def clusters(self) -> Sequence[RowMapping]:
        """Every cluster by name."""
        stmt = select(Cluster.id, Cluster.name, Cluster.site_id).order_by(Cluster.name)
        return self.session.execute(stmt).mappings().all()

    def hosts(self) -> Sequence[RowMapping]:
        """Every host by name."""
        stmt = select(Host.id, Host.name, Host.state, Host.cluster_id).order_by(Host.name)
        return self.session.execute(stmt).mappings().all()

    def vm_counts(self) -> Sequence[RowMapping]:
        """``cluster_id, host_id, n``: VMs (not templates) per cluster and host."""
        stmt = (
            select(Vm.cluster_id, Vm.host_id, func.count().label("n"))
            .where(Vm.is_template.is_(False))
            .group_by(Vm.cluster_id, Vm.host_id)
        )
        return self.session.execute(stmt).mappings().all()

    def vms_on(self, host_id: object, limit: int) -> Sequence[RowMapping]:
        """The first VMs of a host by name."""
        stmt = (
            select(Vm.id, Vm.name, Vm.state)
            .where(Vm.host_id == host_id, Vm.is_template.is_(False))
            .order_by(Vm.name)
            .limit(limit)
        )
        return self.session.execute(stmt).mappings().all()
