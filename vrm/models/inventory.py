"""Sites, clusters and hosts: where VMs can run."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import CheckConstraint, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from vrm.models.base import Base, IdMixin, TimestampMixin
from vrm.models.enums import DrsMode, HostState, PlacementPolicy, str_enum

if TYPE_CHECKING:
    from vrm.models.compute import Vm


class Site(IdMixin, TimestampMixin, Base):
    """A data centre: the top of the inventory tree."""

    __tablename__ = "sites"

    name: Mapped[str] = mapped_column(String(64), unique=True)
    description: Mapped[str] = mapped_column(String(255), default="")

    clusters: Mapped[list[Cluster]] = relationship(back_populates="site", lazy="raise")


class Cluster(IdMixin, TimestampMixin, Base):
    """A group of hosts sharing settings for overcommit, HA and DRS."""

    __tablename__ = "clusters"
    __table_args__ = (
        UniqueConstraint("site_id", "name"),
        CheckConstraint("cpu_overcommit >= 1 AND cpu_overcommit <= 32", name="cpu_overcommit"),
        CheckConstraint("mem_overcommit >= 1 AND mem_overcommit <= 4", name="mem_overcommit"),
        CheckConstraint("drs_threshold BETWEEN 1 AND 5", name="drs_threshold"),
        CheckConstraint("ha_reserved_percent BETWEEN 0 AND 100", name="ha_reserved_percent"),
    )

    site_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sites.id", ondelete="RESTRICT"))
    name: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(String(255), default="")
    cpu_overcommit: Mapped[float] = mapped_column(default=1.0)
    mem_overcommit: Mapped[float] = mapped_column(default=1.0)
    ha_enabled: Mapped[bool] = mapped_column(default=False)
    ha_admission_control: Mapped[bool] = mapped_column(default=True)
    ha_reserved_percent: Mapped[int] = mapped_column(default=0)
    drs_mode: Mapped[DrsMode] = mapped_column(str_enum(DrsMode), default=DrsMode.OFF)
    drs_threshold: Mapped[int] = mapped_column(default=3)
    placement_policy: Mapped[PlacementPolicy] = mapped_column(
        str_enum(PlacementPolicy), default=PlacementPolicy.SPREAD
    )
    mem_balloon: Mapped[bool] = mapped_column(default=True)
    mem_ksm: Mapped[bool] = mapped_column(default=False)
    mem_swap: Mapped[bool] = mapped_column(default=False)
    # What CPU the VMs see: "host-model", or a named libvirt model every host must offer
    # (a baseline), so that VMs can migrate between hosts of different generations.
    cpu_mode: Mapped[str] = mapped_column(String(64), default="host-model")
    # Migration defaults of the cluster (``vrm.migration.policy.ClusterMigration``).
    migration_policy: Mapped[dict[str, Any]] = mapped_column(default=dict)

    site: Mapped[Site] = relationship(back_populates="clusters", lazy="raise")
    hosts: Mapped[list[Host]] = relationship(back_populates="cluster", lazy="raise")
    vms: Mapped[list[Vm]] = relationship(back_populates="cluster", lazy="raise")


class Host(IdMixin, TimestampMixin, Base):
    """A compute node running the CNA agent."""

    __tablename__ = "hosts"
    __table_args__ = (
        CheckConstraint("cpu_sockets >= 0 AND cpu_cores >= 0 AND cpu_threads >= 0", name="cpu"),
        CheckConstraint("memory_mib >= 0", name="memory_mib"),
    )

    cluster_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clusters.id", ondelete="RESTRICT"))
    name: Mapped[str] = mapped_column(String(255), unique=True)
    address: Mapped[str] = mapped_column(String(255))
    agent_url: Mapped[str] = mapped_column(String(512), unique=True)
    state: Mapped[HostState] = mapped_column(str_enum(HostState), default=HostState.CONNECTING)
    cpu_model: Mapped[str] = mapped_column(String(255), default="")
    cpu_sockets: Mapped[int] = mapped_column(default=0)
    cpu_cores: Mapped[int] = mapped_column(default=0)
    cpu_threads: Mapped[int] = mapped_column(default=0)
    cpu_mhz: Mapped[int] = mapped_column(default=0)
    memory_mib: Mapped[int] = mapped_column(default=0)
    hypervisor: Mapped[str] = mapped_column(String(64), default="")
    libvirt_version: Mapped[str] = mapped_column(String(32), default="")
    hw_virt: Mapped[bool] = mapped_column(default=False)
    capabilities: Mapped[dict[str, Any]] = mapped_column(default=dict)
    usage: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # What the VMs placed here claim (templates aside), kept by ``vrm.models.placed`` on
    # every flush, so placement reads a host's load without summing its VMs.
    placed_vcpus: Mapped[int] = mapped_column(default=0, server_default="0")
    placed_memory_mib: Mapped[int] = mapped_column(default=0, server_default="0")
    credential_hash: Mapped[str | None] = mapped_column(String(128))
    last_heartbeat_at: Mapped[datetime | None]

    cluster: Mapped[Cluster] = relationship(back_populates="hosts", lazy="raise")


class HostReconciliation(Base):
    """What heartbeat reconciliation remembers of one host between two heartbeats.

    Written only when it changes, by whichever VRM process takes the heartbeat.
    """

    __tablename__ = "host_reconciliation"

    host_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("hosts.id", ondelete="CASCADE"), primary_key=True
    )
    # VM id -> the state reported once, different from the record: corrected if seen again.
    suspects: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # UUIDs of domains VRM does not manage, already reported once.
    strays: Mapped[list[Any]] = mapped_column(default=list)
