"""SQL for placement (the cluster lock, host usage, datastores, rules) and for placement rules.

A placement reads a whole cluster in a few grouped queries, never one query per host:
1,000 hosts cost the same number of round trips as one.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Row, Select, case, delete, func, select, update
from sqlalchemy.orm import Session

from vrm.hosts.states import SCHEDULABLE
from vrm.models import (
    Cluster,
    Datastore,
    Dvs,
    Host,
    HostDatastore,
    PlacementRule,
    PlacementRuleHost,
    PlacementRuleVm,
    PortGroup,
    Vm,
    Volume,
)
from vrm.models.enums import DatastoreType, ObjectState, PlacementPolicy
from vrm.repository import Repository
from vrm.scheduler.interface import PlacementRequest
from vrm.scheduler.views import (
    ClusterView,
    DatastoreView,
    HostView,
    RuleMember,
    RuleView,
    logical_cpus,
)

# A result row of any shape.
AnyRow = Row[*tuple[Any, ...]]
_USABLE_DATASTORE = (ObjectState.AVAILABLE, ObjectState.IN_USE)


# Capacity products such as 20 * 1.15 come out a hair short in floating point.
_SLACK = 1e-6


class PlacementRepository:
    """What one placement reads, under the cluster's lock."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def lock_cluster(self, cluster_id: uuid.UUID) -> ClusterView | None:
        """Serialize placements in the cluster until the transaction ends; its settings."""
        if self.session.get_bind().dialect.name == "sqlite":
            # SQLite has no row locks; a write takes the database's one write lock, held to
            # commit, so concurrent placements queue (busy_timeout) and each one then reads
            # the claims the previous one committed. vrm.db begins transactions IMMEDIATE,
            # which takes that lock already; this write keeps the guarantee for a
            # connection that begins deferred (where it must come before any read: a
            # deferred transaction that has read cannot always upgrade).
            stmt = update(Cluster).where(Cluster.id == cluster_id)
            self.session.execute(
                stmt.values(updated_at=Cluster.updated_at),
                execution_options={"synchronize_session": False},
            )
        # PostgreSQL: the row lock queues placements of this cluster; READ COMMITTED then
        # lets the next statements see the claims of the placement that held it before.
        # NO KEY UPDATE, not UPDATE: inserting a VM takes KEY SHARE on its cluster row (the
        # foreign key check), which UPDATE would conflict with and deadlock against a
        # caller that inserts its VM row before placing it.
        row = self.session.execute(
            select(
                Cluster.id,
                Cluster.name,
                Cluster.site_id,
                Cluster.cpu_overcommit,
                Cluster.mem_overcommit,
                Cluster.placement_policy,
            )
            .where(Cluster.id == cluster_id)
            .with_for_update(key_share=True)
        ).first()
        return ClusterView(*row) if row is not None else None

    def hosts(self, cluster_id: uuid.UUID, *, also: uuid.UUID | None) -> list[HostView]:
        """The cluster's hosts (and host ``also``, wherever it is) with what their VMs use."""
        in_cluster = Host.cluster_id == cluster_id
        views = self._host_views(in_cluster, cluster_id)
        if also is not None and all(view.id != also for view in views):
            foreign = self._rows(select(Host.cluster_id).where(Host.id == also))
            views += [self._host_views(Host.id == also, row[0])[0] for row in foreign]
        return views

    def best_fitting(
        self, cluster: ClusterView, request: PlacementRequest, reserved_mib: int, limit: int
    ) -> list[HostView]:
        """The ``limit`` best hosts by the cluster's policy among those of the cluster that are
        normal and have the vCPUs and memory free, ranked by the database.

        The common case then reads a handful of rows instead of every host; the Python
        filters still decide, and the caller falls back to all hosts when none of these
        passes (so a refusal still names every host's reason).
        """
        in_cluster = Host.cluster_id == cluster.id
        counted = Host.cpu_sockets * Host.cpu_cores * Host.cpu_threads
        cpus = case(
            (counted > 0, counted), else_=func.coalesce(Host.capabilities["cpus"].as_integer(), 0)
        )
        used_vcpus, used_mib = Host.placed_vcpus, Host.placed_memory_mib
        capacity = Host.memory_mib * cluster.mem_overcommit - reserved_mib
        free_mib = capacity - used_mib
        load = func.coalesce(Host.usage["cpu_percent"].as_float(), 0.0)
        order: tuple[Any, ...]
        if cluster.policy == PlacementPolicy.PACK:
            order = (free_mib.asc(), used_vcpus.desc(), load.desc(), Host.id)
        else:
            fraction = free_mib / case((capacity > 0, capacity), else_=None)
            order = (fraction.desc(), load.asc(), used_vcpus.asc(), Host.id)
        stmt = (
            select(
                Host.id,
                Host.name,
                Host.state,
                Host.cpu_sockets,
                Host.cpu_cores,
                Host.cpu_threads,
                Host.capabilities["cpus"].as_integer(),
                Host.memory_mib,
                Host.usage["cpu_percent"].as_float(),
                used_vcpus,
                used_mib,
            )
            .where(in_cluster, Host.state.in_(SCHEDULABLE))
            .where(used_vcpus + request.vcpus <= cpus * cluster.cpu_overcommit + _SLACK)
            .where(used_mib + request.memory_mib <= capacity + _SLACK)
            .order_by(*order)
            .limit(limit)
        )
        if request.exclude:
            stmt = stmt.where(Host.id.not_in(request.exclude))
        rows = self._rows(stmt)
        usage = {row[0]: (int(row[9]), int(row[10])) for row in rows}
        return [_host_view(row, cluster.id, usage) for row in rows]

    def host_view(self, host_id: uuid.UUID, cluster_id: uuid.UUID) -> HostView | None:
        """One host of cluster ``cluster_id`` with what its VMs use."""
        views = self._host_views(Host.id == host_id, cluster_id)
        return views[0] if views else None

    def _host_views(self, scope: ColumnElement[bool], cluster_id: uuid.UUID) -> list[HostView]:
        """Views of the hosts in ``scope``, all of cluster ``cluster_id``."""
        stmt = select(
            Host.id,
            Host.name,
            Host.state,
            Host.cpu_sockets,
            Host.cpu_cores,
            Host.cpu_threads,
            Host.capabilities["cpus"].as_integer(),
            Host.memory_mib,
            Host.usage["cpu_percent"].as_float(),
            Host.placed_vcpus,
            Host.placed_memory_mib,
        )
        rows = self._rows(stmt.where(scope))
        used = {row[0]: (int(row[9]), int(row[10])) for row in rows}
        return [_host_view(row, cluster_id, used) for row in rows]

    def datastores(self, host_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[DatastoreView]]:
        """The datastores each of ``host_ids`` reaches, local first, then by name.

        Free space is net of the volumes still being created in each datastore.
        """
        if not host_ids:
            return {}
        # Per datastore row, by its id: walks the (datastore_id, name) index whatever the
        # planner's statistics say (a join against all creating volumes did not).
        pending = (
            select(func.coalesce(func.sum(Volume.capacity_mib), 0))
            .where(Volume.datastore_id == Datastore.id, Volume.state == ObjectState.CREATING)
            .correlate(Datastore)
            .scalar_subquery()
        )
        stmt = (
            select(
                HostDatastore.host_id,
                HostDatastore.mounted,
                Datastore.id,
                Datastore.name,
                Datastore.type,
                Datastore.state,
                Datastore.capacity_mib - Datastore.allocated_mib - pending,
            )
            .join(Datastore, Datastore.id == HostDatastore.datastore_id)
            .where(HostDatastore.host_id.in_(host_ids))
        )
        return _by_host(_datastore_view(row) for row in self._rows(stmt))

    def _rows(self, stmt: Select[*tuple[Any, ...]]) -> Sequence[AnyRow]:
        """Rows of a column query, through Core: no ORM loading machinery for plain values."""
        return self.session.connection().execute(stmt).all()

    def rules_naming(self, cluster_id: uuid.UUID, vm_id: uuid.UUID) -> list[RuleView]:
        """The cluster's enabled rules that name ``vm_id``, with all their VMs and hosts."""
        stmt = (
            select(PlacementRule.id, PlacementRule.name, PlacementRule.kind)
            .join(PlacementRuleVm, PlacementRuleVm.rule_id == PlacementRule.id)
            .where(
                PlacementRule.cluster_id == cluster_id,
                PlacementRule.enabled.is_(True),
                PlacementRuleVm.vm_id == vm_id,
            )
        )
        rules = self.session.execute(stmt).all()
        if not rules:
            return []
        members, hosts = self._members([r.id for r in rules])
        return [
            RuleView(r.id, r.name, r.kind, tuple(members[r.id]), frozenset(hosts[r.id]))
            for r in rules
        ]

    def _members(
        self, rule_ids: list[uuid.UUID]
    ) -> tuple[dict[uuid.UUID, list[RuleMember]], dict[uuid.UUID, list[uuid.UUID]]]:
        """The VMs (and where each is placed) and the hosts of each rule."""
        vm_stmt = (
            select(PlacementRuleVm.rule_id, Vm.id, Vm.name, Vm.host_id)
            .join(Vm, Vm.id == PlacementRuleVm.vm_id)
            .where(PlacementRuleVm.rule_id.in_(rule_ids))
        )
        members: dict[uuid.UUID, list[RuleMember]] = defaultdict(list)
        for rule_id, vm_id, name, host_id in self.session.execute(vm_stmt):
            members[rule_id].append(RuleMember(vm_id, name, host_id))
        host_stmt = select(PlacementRuleHost.rule_id, PlacementRuleHost.host_id).where(
            PlacementRuleHost.rule_id.in_(rule_ids)
        )
        hosts: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
        for rule_id, host_id in self.session.execute(host_stmt):
            hosts[rule_id].append(host_id)
        return members, hosts

    def port_group_sites(self, port_group_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, uuid.UUID]:
        """The site of the DVS of each existing port group among ``port_group_ids``."""
        ids = list(set(port_group_ids))
        if not ids:
            return {}
        stmt = (
            select(PortGroup.id, Dvs.site_id)
            .join(Dvs, Dvs.id == PortGroup.dvs_id)
            .where(PortGroup.id.in_(ids))
        )
        return dict(self.session.execute(stmt).all())

    def host(self, host_id: uuid.UUID) -> Host | None:
        """The chosen host as an ORM object."""
        return self.session.get(Host, host_id)


def _host_view(
    row: AnyRow, cluster_id: uuid.UUID, used: dict[uuid.UUID, tuple[int, int]]
) -> HostView:
    # Unpacked, not row.name-style: a thousand rows per placement, attribute access adds up.
    ident, name, state, sockets, cores, threads, reported, memory, load, *_ = row
    vcpus, mib = used.get(ident, (0, 0))
    return HostView(
        id=ident,
        name=name,
        cluster_id=cluster_id,
        cpus=logical_cpus(sockets, cores, threads, reported),
        memory_mib=memory,
        state=state,
        used_vcpus=vcpus,
        used_memory_mib=mib,
        cpu_percent=float(load or 0.0),
    )


def _datastore_view(row: AnyRow) -> tuple[uuid.UUID, DatastoreView]:
    host_id, mounted, ident, name, kind, state, free = row
    return host_id, DatastoreView(
        id=ident,
        name=name,
        free_mib=int(free),
        local=kind == DatastoreType.LOCAL_DIR,
        usable=bool(mounted) and state in _USABLE_DATASTORE,
    )


def _by_host(
    pairs: Iterable[tuple[uuid.UUID, DatastoreView]],
) -> dict[uuid.UUID, list[DatastoreView]]:
    """Datastore views grouped per host, local ones first, then by name."""
    found: dict[uuid.UUID, list[DatastoreView]] = defaultdict(list)
    for host_id, view in pairs:
        found[host_id].append(view)
    for views in found.values():
        views.sort(key=lambda d: (not d.local, d.name, d.id))
    return found


class PlacementRuleRepository(Repository[PlacementRule]):
    """Placement rules and the VMs and hosts they name."""

    model = PlacementRule
    sortable = ("created_at", "updated_at", "name", "kind")

    def members(
        self, rule_ids: Sequence[uuid.UUID]
    ) -> tuple[dict[uuid.UUID, list[uuid.UUID]], dict[uuid.UUID, list[uuid.UUID]]]:
        """The VM ids and the host ids of each of ``rule_ids``, sorted."""
        vms = select(PlacementRuleVm.rule_id, PlacementRuleVm.vm_id).where(
            PlacementRuleVm.rule_id.in_(rule_ids)
        )
        hosts = select(PlacementRuleHost.rule_id, PlacementRuleHost.host_id).where(
            PlacementRuleHost.rule_id.in_(rule_ids)
        )
        return self._by_rule(rule_ids, vms), self._by_rule(rule_ids, hosts)

    def _by_rule(
        self, rule_ids: Sequence[uuid.UUID], stmt: Select[uuid.UUID, uuid.UUID]
    ) -> dict[uuid.UUID, list[uuid.UUID]]:
        found: dict[uuid.UUID, list[uuid.UUID]] = {ident: [] for ident in rule_ids}
        if rule_ids:
            for rule_id, ident in self.session.execute(stmt):
                found[rule_id].append(ident)
        for idents in found.values():
            idents.sort()
        return found

    def replace_vms(self, rule_id: uuid.UUID, vm_ids: Iterable[uuid.UUID]) -> None:
        """Make ``vm_ids`` the VMs the rule names."""
        self.session.execute(delete(PlacementRuleVm).where(PlacementRuleVm.rule_id == rule_id))
        self.session.add_all(PlacementRuleVm(rule_id=rule_id, vm_id=v) for v in vm_ids)

    def replace_hosts(self, rule_id: uuid.UUID, host_ids: Iterable[uuid.UUID]) -> None:
        """Make ``host_ids`` the hosts the rule names."""
        self.session.execute(delete(PlacementRuleHost).where(PlacementRuleHost.rule_id == rule_id))
        self.session.add_all(PlacementRuleHost(rule_id=rule_id, host_id=h) for h in host_ids)

    def vm_clusters(self, vm_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, tuple[uuid.UUID, bool]]:
        """Cluster id and template flag of each existing VM among ``vm_ids``."""
        if not vm_ids:
            return {}
        stmt = select(Vm.id, Vm.cluster_id, Vm.is_template).where(Vm.id.in_(vm_ids))
        return {
            ident: (cluster_id, template)
            for ident, cluster_id, template in self.session.execute(stmt)
        }

    def host_clusters(self, host_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, uuid.UUID]:
        """Cluster id of each existing host among ``host_ids``."""
        if not host_ids:
            return {}
        stmt = select(Host.id, Host.cluster_id).where(Host.id.in_(host_ids))
        return dict(self.session.execute(stmt).all())
