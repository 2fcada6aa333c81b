"""Figures for the dashboard and the host and cluster pages.

Capacity is counted as placement counts it (``vrm.scheduler.views``): logical CPUs x the
cluster's CPU overcommit ratio, memory x the memory ratio less the host's reserve; what
is allocated is what the VMs placed on each host claim (``hosts.placed_*``).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import RowMapping
from sqlalchemy.orm import Session

from vrm.scheduler.views import (
    HOST_RESERVED_MIB,
    HostView,
    logical_cpus,
    memory_capacity,
    vcpu_capacity,
)
from vrm.web.dashboard_repository import DashboardRepository

# How many of each list the dashboard shows.
BUSIEST_HOSTS = 12
LATEST_TASKS = 10
LATEST_ALARMS = 5
DATASTORES = 10


@dataclass(frozen=True, slots=True)
class Allocation:
    """vCPUs and memory claimed by placed VMs against capacity after overcommit."""

    vcpus: int = 0
    vcpu_capacity: int = 0
    memory_mib: int = 0
    memory_capacity_mib: int = 0

    def __add__(self, other: Allocation) -> Allocation:
        return Allocation(
            self.vcpus + other.vcpus,
            self.vcpu_capacity + other.vcpu_capacity,
            self.memory_mib + other.memory_mib,
            self.memory_capacity_mib + other.memory_capacity_mib,
        )


@dataclass(frozen=True, slots=True)
class Ratios:
    """A cluster's overcommit ratios."""

    cpu: float = 1.0
    memory: float = 1.0


def host_allocation(row: RowMapping, ratios: Ratios) -> Allocation:
    """What a host's VMs claim and what it may carry (as placement counts it)."""
    view = HostView(
        id=row["id"],
        name="",
        cluster_id=row["cluster_id"],
        cpus=logical_cpus(
            row["cpu_sockets"], row["cpu_cores"], row["cpu_threads"], row["reported_cpus"]
        ),
        memory_mib=row["memory_mib"],
    )
    return Allocation(
        vcpus=row["placed_vcpus"],
        vcpu_capacity=vcpu_capacity(view, ratios.cpu),
        memory_mib=row["placed_memory_mib"],
        # A host that reported no memory yet has none to offer, not less than none.
        memory_capacity_mib=max(memory_capacity(view, ratios.memory, HOST_RESERVED_MIB), 0),
    )


def cluster_ratios(
    session: Session, ids: Sequence[uuid.UUID] | None = None
) -> dict[uuid.UUID, Ratios]:
    """The overcommit ratios of clusters (all, or those of ``ids``)."""
    rows = DashboardRepository(session).clusters(ids)
    return {row["id"]: Ratios(row["cpu_overcommit"], row["mem_overcommit"]) for row in rows}


def cluster_allocations(
    session: Session, ratios: Mapping[uuid.UUID, Ratios]
) -> dict[uuid.UUID, Allocation]:
    """Each cluster's allocation: the sum over its hosts."""
    found = {ident: Allocation() for ident in ratios}
    for row in DashboardRepository(session).capacity_rows(cluster_ids=list(ratios)):
        cluster_id = row["cluster_id"]
        found[cluster_id] = found[cluster_id] + host_allocation(row, ratios[cluster_id])
    return found


@dataclass(frozen=True, slots=True)
class Usage:
    """A host's last reported CPU and memory use (None: not reported)."""

    cpu_percent: float | None = None
    memory_used_mib: int | None = None
    memory_total_mib: int | None = None
    sampled_at: str | None = None

    @property
    def memory_percent(self) -> float | None:
        """Used memory as a share of the host's memory, 0-100."""
        if self.memory_used_mib is None or not self.memory_total_mib:
            return None
        return round(100.0 * self.memory_used_mib / self.memory_total_mib, 1)


def usage_of(raw: Mapping[str, Any] | None) -> Usage:
    """The usage an agent reported (``Host.usage``), tolerating missing or odd values."""
    raw = raw if isinstance(raw, Mapping) else {}
    return Usage(
        cpu_percent=_number(raw.get("cpu_percent"), float),
        memory_used_mib=_number(raw.get("memory_used_mib"), int),
        memory_total_mib=_number(raw.get("memory_total_mib"), int),
        sampled_at=str(raw["sampled_at"]) if raw.get("sampled_at") else None,
    )


def _number(value: object, kind: type[int] | type[float]) -> Any:
    """``value`` as ``kind`` when it is a number (JSON from an agent), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return kind(value)


@dataclass(frozen=True, slots=True)
class ClusterLoad:
    """One cluster's line on the dashboard."""

    id: uuid.UUID
    name: str
    allocation: Allocation


@dataclass(frozen=True, slots=True)
class HostCard:
    """A host's live usage on the dashboard."""

    id: uuid.UUID
    name: str
    state: str
    usage: Usage
    last_heartbeat_at: datetime | None


@dataclass(frozen=True, slots=True)
class Dashboard:
    """Everything the dashboard shows."""

    clusters: int
    host_states: dict[str, int]
    vm_states: dict[str, int]
    cluster_loads: list[ClusterLoad]
    datastores: Sequence[RowMapping]
    datastore_totals: RowMapping
    alarm_counts: dict[str, int]
    alarms: Sequence[RowMapping]
    tasks: Sequence[RowMapping]
    hosts: list[HostCard] = field(default_factory=list)

    @property
    def host_total(self) -> int:
        """All hosts."""
        return sum(self.host_states.values())

    @property
    def vm_total(self) -> int:
        """All VMs (templates aside)."""
        return sum(self.vm_states.values())

    @property
    def alarm_total(self) -> int:
        """All active alarms."""
        return sum(self.alarm_counts.values())

    @property
    def allocation(self) -> Allocation:
        """Every cluster's allocation summed."""
        total = Allocation()
        for load in self.cluster_loads:
            total = total + load.allocation
        return total


def dashboard(session: Session) -> Dashboard:
    """The dashboard's figures, each a grouped query."""
    repo = DashboardRepository(session)
    clusters = repo.clusters()
    ratios = {row["id"]: Ratios(row["cpu_overcommit"], row["mem_overcommit"]) for row in clusters}
    allocations = cluster_allocations(session, ratios)
    return Dashboard(
        clusters=len(clusters),
        host_states=repo.host_states(),
        vm_states=repo.vm_states(),
        cluster_loads=[ClusterLoad(c["id"], c["name"], allocations[c["id"]]) for c in clusters],
        datastores=repo.datastores(DATASTORES),
        datastore_totals=repo.datastore_totals(),
        alarm_counts=repo.active_alarms(),
        alarms=repo.latest_alarms(LATEST_ALARMS),
        tasks=repo.latest_tasks(LATEST_TASKS),
        hosts=[_card(row) for row in repo.busiest_hosts(BUSIEST_HOSTS)],
    )


def _card(row: RowMapping) -> HostCard:
    return HostCard(
        row["id"], row["name"], str(row["state"]), usage_of(row["usage"]), row["last_heartbeat_at"]
    )
