"""Virtual machines, their disks and their NICs."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid4

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from vrm.models.base import Base, IdMixin, TimestampMixin, utcnow
from vrm.models.enums import DiskBus, NicModel, RuleKind, VmState, str_enum

if TYPE_CHECKING:
    from vrm.models.inventory import Cluster
    from vrm.models.network import IpAllocation, PortGroup


class Vm(IdMixin, TimestampMixin, Base):
    """A virtual machine (or, with ``is_template``, a template)."""

    __tablename__ = "vms"
    __table_args__ = (
        UniqueConstraint("cluster_id", "name"),
        CheckConstraint("vcpus >= 1 AND max_vcpus >= vcpus", name="vcpus"),
        CheckConstraint("memory_mib >= 1 AND max_memory_mib >= memory_mib", name="memory"),
        CheckConstraint("cpu_shares >= 1", name="cpu_shares"),
        CheckConstraint("cpu_reservation_mhz >= 0 AND cpu_limit_mhz >= 0", name="cpu_qos"),
        # Pages are sorted by creation time (then id): read in index order, not sorted.
        Index("ix_vms_created_at", "created_at", "id"),
        # The WebUI's change feed reads what changed lately.
        Index("ix_vms_updated_at", "updated_at"),
    )

    # The libvirt domain UUID; kept apart from ``id`` so imported domains keep theirs.
    uuid: Mapped[UUID] = mapped_column(Uuid, unique=True, default=uuid4)
    name: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(String(255), default="")
    cluster_id: Mapped[UUID] = mapped_column(ForeignKey("clusters.id", ondelete="RESTRICT"))
    host_id: Mapped[UUID | None] = mapped_column(
        ForeignKey("hosts.id", ondelete="RESTRICT"), index=True
    )
    # While a migration runs: the host it goes to (its capacity is claimed there too).
    migration_target_host_id: Mapped[UUID | None] = mapped_column(
        ForeignKey("hosts.id", ondelete="RESTRICT"), index=True
    )
    vcpus: Mapped[int]
    max_vcpus: Mapped[int]
    memory_mib: Mapped[int]
    max_memory_mib: Mapped[int]
    cpu_shares: Mapped[int] = mapped_column(default=1024)
    cpu_reservation_mhz: Mapped[int] = mapped_column(default=0)
    # 0 means no limit.
    cpu_limit_mhz: Mapped[int] = mapped_column(default=0)
    state: Mapped[VmState] = mapped_column(str_enum(VmState), default=VmState.CREATING)
    # The operation in progress, if any; set by compare-and-swap before work is sent.
    task_state: Mapped[str | None] = mapped_column(String(32))
    ha_enabled: Mapped[bool] = mapped_column(default=False)
    is_template: Mapped[bool] = mapped_column(default=False)
    boot_order: Mapped[list[Any]] = mapped_column(default=lambda: ["hd"])
    # VNC allows at most 8 characters; VRM's console proxy presents it, users never see it.
    console_password: Mapped[str] = mapped_column(String(8), default="")
    # The template or VM this one was cloned from (linked clones depend on its volumes).
    source_vm_id: Mapped[UUID | None] = mapped_column(ForeignKey("vms.id", ondelete="SET NULL"))
    # Handed to the guest in its cloud-init seed (with its addresses) when it has any.
    user_data: Mapped[str | None] = mapped_column(Text)
    ssh_keys: Mapped[list[Any]] = mapped_column(default=list)
    # One VNC viewer at a time: a second one is refused with a message.
    console_exclusive: Mapped[bool] = mapped_column(default=False)

    cluster: Mapped[Cluster] = relationship(back_populates="vms", lazy="raise")
    # Disks and NICs live and die with their VM (the database cascades the delete).
    disks: Mapped[list[VmDisk]] = relationship(
        back_populates="vm", lazy="raise", cascade="all, delete-orphan", passive_deletes=True
    )
    nics: Mapped[list[VmNic]] = relationship(
        back_populates="vm", lazy="raise", cascade="all, delete-orphan", passive_deletes=True
    )
    cdroms: Mapped[list[VmCdrom]] = relationship(
        back_populates="vm", lazy="raise", cascade="all, delete-orphan", passive_deletes=True
    )


class VmDisk(IdMixin, Base):
    """A volume attached to a VM as a disk device."""

    __tablename__ = "vm_disks"
    __table_args__ = (UniqueConstraint("vm_id", "device"), UniqueConstraint("volume_id"))

    vm_id: Mapped[UUID] = mapped_column(ForeignKey("vms.id", ondelete="CASCADE"))
    volume_id: Mapped[UUID] = mapped_column(ForeignKey("volumes.id", ondelete="RESTRICT"))
    device: Mapped[str] = mapped_column(String(16))
    bus: Mapped[DiskBus] = mapped_column(str_enum(DiskBus), default=DiskBus.VIRTIO)
    boot_index: Mapped[int | None]

    vm: Mapped[Vm] = relationship(back_populates="disks", lazy="raise")


class VmCdrom(IdMixin, Base):
    """A CD-ROM drive of a VM (IDE), holding an image or nothing."""

    __tablename__ = "vm_cdroms"
    __table_args__ = (UniqueConstraint("vm_id", "device"),)

    vm_id: Mapped[UUID] = mapped_column(ForeignKey("vms.id", ondelete="CASCADE"))
    device: Mapped[str] = mapped_column(String(16))
    image_id: Mapped[UUID | None] = mapped_column(
        ForeignKey("images.id", ondelete="RESTRICT"), index=True
    )

    vm: Mapped[Vm] = relationship(back_populates="cdroms", lazy="raise")


class VmNic(IdMixin, Base):
    """A VM network interface on a port group, with an installation-wide unique MAC."""

    __tablename__ = "vm_nics"
    __table_args__ = (UniqueConstraint("vm_id", "slot"),)

    vm_id: Mapped[UUID] = mapped_column(ForeignKey("vms.id", ondelete="CASCADE"))
    port_group_id: Mapped[UUID] = mapped_column(
        ForeignKey("port_groups.id", ondelete="RESTRICT"), index=True
    )
    slot: Mapped[int]
    mac: Mapped[str] = mapped_column(String(17), unique=True)
    model: Mapped[NicModel] = mapped_column(str_enum(NicModel), default=NicModel.VIRTIO)

    vm: Mapped[Vm] = relationship(back_populates="nics", lazy="raise")
    # The addresses of IP pools bound to this NIC (the database deletes them with it).
    allocations: Mapped[list[IpAllocation]] = relationship(
        lazy="selectin",
        order_by="IpAllocation.address",
        viewonly=True,
    )

    port_group: Mapped[PortGroup] = relationship(lazy="selectin", viewonly=True)

    @property
    def ips(self) -> list[str]:
        """The NIC's addresses."""
        return [allocation.address for allocation in self.allocations]

    @property
    def vlan_id(self) -> int:
        """The VLAN of its port group (0 = untagged; a trunk's native VLAN)."""
        return self.port_group.vlan_id


class VmSnapshot(IdMixin, Base):
    """A snapshot of a VM, as VRM records it (the node holds the data)."""

    __tablename__ = "vm_snapshots"
    __table_args__ = (UniqueConstraint("vm_id", "name"),)

    vm_id: Mapped[UUID] = mapped_column(ForeignKey("vms.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PlacementRule(IdMixin, TimestampMixin, Base):
    """An affinity rule of a cluster: VMs together, VMs apart, or VMs on (or off) hosts."""

    __tablename__ = "placement_rules"
    __table_args__ = (UniqueConstraint("cluster_id", "name"),)

    cluster_id: Mapped[UUID] = mapped_column(ForeignKey("clusters.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))
    kind: Mapped[RuleKind] = mapped_column(str_enum(RuleKind))
    enabled: Mapped[bool] = mapped_column(default=True)


class PlacementRuleVm(Base):
    """A VM a placement rule names."""

    __tablename__ = "placement_rule_vms"

    rule_id: Mapped[UUID] = mapped_column(
        ForeignKey("placement_rules.id", ondelete="CASCADE"), primary_key=True
    )
    vm_id: Mapped[UUID] = mapped_column(ForeignKey("vms.id", ondelete="CASCADE"), primary_key=True)


class PlacementRuleHost(Base):
    """A host a VM-to-host rule names."""

    __tablename__ = "placement_rule_hosts"

    rule_id: Mapped[UUID] = mapped_column(
        ForeignKey("placement_rules.id", ondelete="CASCADE"), primary_key=True
    )
    host_id: Mapped[UUID] = mapped_column(
        ForeignKey("hosts.id", ondelete="CASCADE"), primary_key=True
    )
