"""Distributed virtual switches, port groups, IP pools and allocations."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from vrm.models.base import Base, IdMixin, TimestampMixin


class Dvs(IdMixin, TimestampMixin, Base):
    """A distributed virtual switch: one Open vSwitch bridge on every host of a site."""

    __tablename__ = "dvs"
    __table_args__ = (
        UniqueConstraint("site_id", "name"),
        CheckConstraint("mtu BETWEEN 576 AND 9216", name="mtu"),
    )

    site_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sites.id", ondelete="RESTRICT"))
    name: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(String(255), default="")
    # Bridge name on the nodes (Linux limits interface names to 15 characters).
    bridge: Mapped[str] = mapped_column(String(15), unique=True)
    uplink: Mapped[str | None] = mapped_column(String(15))
    mtu: Mapped[int] = mapped_column(default=1500)


class PortGroup(IdMixin, TimestampMixin, Base):
    """A set of switch ports sharing a VLAN (0 = untagged), or a trunk of VLANs."""

    __tablename__ = "port_groups"
    __table_args__ = (
        UniqueConstraint("dvs_id", "name"),
        CheckConstraint("vlan_id BETWEEN 0 AND 4094", name="vlan_id"),
    )

    dvs_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("dvs.id", ondelete="RESTRICT"))
    name: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(String(255), default="")
    vlan_id: Mapped[int] = mapped_column(default=0)
    # VLAN ids the ports carry tagged (a trunk, for guests that tag themselves); when not
    # empty, ``vlan_id`` is the trunk's native (untagged) VLAN, 0 for none.
    trunk_vlans: Mapped[list[Any]] = mapped_column(default=list)


class IpPool(IdMixin, TimestampMixin, Base):
    """A subnet whose addresses VRM hands out to the NICs of one port group."""

    __tablename__ = "ip_pools"
    __table_args__ = (UniqueConstraint("port_group_id", "cidr"),)

    port_group_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("port_groups.id", ondelete="RESTRICT")
    )
    name: Mapped[str] = mapped_column(String(64), unique=True)
    description: Mapped[str] = mapped_column(String(255), default="")
    cidr: Mapped[str] = mapped_column(String(64))
    gateway: Mapped[str | None] = mapped_column(String(45))
    dns_servers: Mapped[list[Any]] = mapped_column(default=list)


class IpRange(IdMixin, Base):
    """An inclusive range of assignable addresses inside a pool's CIDR."""

    __tablename__ = "ip_ranges"
    __table_args__ = (UniqueConstraint("pool_id", "start"),)

    pool_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ip_pools.id", ondelete="CASCADE"))
    start: Mapped[str] = mapped_column(String(45))
    end: Mapped[str] = mapped_column(String(45))


class IpAllocation(IdMixin, TimestampMixin, Base):
    """An address of a pool bound to a NIC and its MAC (or reserved, with no NIC).

    Deleting the NIC deletes its allocations (the database cascades): the address is free
    again exactly when the NIC row goes, which VM flows do once the domain is gone.
    """

    __tablename__ = "ip_allocations"
    __table_args__ = (
        UniqueConstraint("pool_id", "address"),
        UniqueConstraint("pool_id", "nic_id"),
    )

    pool_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ip_pools.id", ondelete="RESTRICT"))
    address: Mapped[str] = mapped_column(String(45))
    nic_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("vm_nics.id", ondelete="CASCADE"), index=True
    )
    mac: Mapped[str | None] = mapped_column(String(17))
    reserved: Mapped[bool] = mapped_column(default=False)
