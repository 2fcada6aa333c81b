"""SQL for switches, port groups, IP pools, their ranges and allocations."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence

from sqlalchemy import delete, func, select

from vrm.models import Cluster, Dvs, Host, IpAllocation, IpPool, IpRange, PortGroup, VmNic
from vrm.repository import Repository


class DvsRepository(Repository[Dvs]):
    """Distributed virtual switches."""

    model = Dvs
    sortable = ("created_at", "updated_at", "name", "bridge", "mtu")

    def any_for_host(self, host_id: uuid.UUID) -> bool:
        """Whether the site of the host has any DVS."""
        stmt = (
            select(Dvs.id)
            .join(Cluster, Cluster.site_id == Dvs.site_id)
            .join(Host, Host.cluster_id == Cluster.id)
            .where(Host.id == host_id)
            .limit(1)
        )
        return self.session.scalar(stmt) is not None


class PortGroupRepository(Repository[PortGroup]):
    """Port groups."""

    model = PortGroup
    sortable = ("created_at", "updated_at", "name", "vlan_id")

    def of_dvs(self, dvs_id: uuid.UUID) -> Sequence[PortGroup]:
        """The port groups of one DVS, by name."""
        stmt = select(PortGroup).where(PortGroup.dvs_id == dvs_id).order_by(PortGroup.name)
        return self.session.scalars(stmt).all()

    def lock(self, ident: uuid.UUID) -> PortGroup | None:
        """The port group, locked until commit (PostgreSQL) so pools on it are added in turn."""
        stmt = select(PortGroup).where(PortGroup.id == ident).with_for_update()
        return self.session.scalars(stmt).first()


class VmNicRepository(Repository[VmNic]):
    """VM NICs, as far as the network domain needs them."""

    model = VmNic
    sortable = ("slot", "mac")
    default_sort = ("slot",)


class IpPoolRepository(Repository[IpPool]):
    """IP pools."""

    model = IpPool
    sortable = ("created_at", "updated_at", "name", "cidr")

    def lock(self, ident: uuid.UUID) -> IpPool | None:
        """The pool, locked until commit (PostgreSQL) so its ranges change in turn."""
        stmt = select(IpPool).where(IpPool.id == ident).with_for_update()
        return self.session.scalars(stmt).first()

    def on_port_group(self, port_group_id: uuid.UUID) -> Sequence[IpPool]:
        """Every pool bound to ``port_group_id``."""
        stmt = (
            select(IpPool)
            .where(IpPool.port_group_id == port_group_id)
            .order_by(IpPool.created_at, IpPool.id)
        )
        return self.session.scalars(stmt).all()


class IpRangeRepository(Repository[IpRange]):
    """The address ranges of pools."""

    model = IpRange
    sortable = ("start",)
    default_sort = ("start",)

    def of_pools(self, pool_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, list[IpRange]]:
        """The ranges of each of ``pool_ids``."""
        ids = list(pool_ids)
        found: dict[uuid.UUID, list[IpRange]] = defaultdict(list)
        if ids:
            for ip_range in self.session.scalars(select(IpRange).where(IpRange.pool_id.in_(ids))):
                found[ip_range.pool_id].append(ip_range)
        return found

    def replace(self, pool_id: uuid.UUID, ranges: Iterable[tuple[str, str]]) -> list[IpRange]:
        """Make ``ranges`` the pool's only ranges."""
        self.session.execute(delete(IpRange).where(IpRange.pool_id == pool_id))
        rows = [IpRange(pool_id=pool_id, start=start, end=end) for start, end in ranges]
        self.session.add_all(rows)
        self.flush(conflict="the pool's ranges changed meanwhile; try again")
        return rows


class IpAllocationRepository(Repository[IpAllocation]):
    """Addresses handed out from pools."""

    model = IpAllocation
    sortable = ("created_at", "address", "reserved")

    def bound_counts(self, pool_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, int]:
        """How many addresses of each of ``pool_ids`` NICs hold (absent: none)."""
        ids = list(pool_ids)
        if not ids:
            return {}
        stmt = (
            select(IpAllocation.pool_id, func.count())
            .where(IpAllocation.pool_id.in_(ids), IpAllocation.nic_id.is_not(None))
            .group_by(IpAllocation.pool_id)
        )
        return dict(self.session.execute(stmt).all())

    def reserved(self, pool_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, list[str]]:
        """The reserved addresses of each of ``pool_ids``."""
        ids = list(pool_ids)
        found: dict[uuid.UUID, list[str]] = defaultdict(list)
        if ids:
            stmt = select(IpAllocation.pool_id, IpAllocation.address).where(
                IpAllocation.pool_id.in_(ids), IpAllocation.nic_id.is_(None)
            )
            for pool_id, address in self.session.execute(stmt):
                found[pool_id].append(address)
        return found

    def delete_of_nics(self, nic_ids: Iterable[uuid.UUID]) -> None:
        """Drop the allocations the NICs hold."""
        ids = list(nic_ids)
        if ids:
            self.session.execute(delete(IpAllocation).where(IpAllocation.nic_id.in_(ids)))

    def count_bound(self, pool_id: uuid.UUID) -> int:
        """How many of the pool's addresses are bound to a NIC."""
        stmt = select(func.count()).where(
            IpAllocation.pool_id == pool_id, IpAllocation.nic_id.is_not(None)
        )
        return self.session.scalar(stmt) or 0

    def addresses(self, pool_id: uuid.UUID) -> Sequence[str]:
        """Every allocated or reserved address of the pool."""
        stmt = select(IpAllocation.address).where(IpAllocation.pool_id == pool_id)
        return self.session.scalars(stmt).all()

    def holders(self, pool_id: uuid.UUID, addresses: Sequence[str]) -> Sequence[IpAllocation]:
        """The allocations of ``addresses`` in the pool that NICs hold."""
        stmt = select(IpAllocation).where(
            IpAllocation.pool_id == pool_id,
            IpAllocation.address.in_(addresses),
            IpAllocation.nic_id.is_not(None),
        )
        return self.session.scalars(stmt.order_by(IpAllocation.address)).all()

    def bound_addresses(self, pool_id: uuid.UUID) -> Sequence[str]:
        """The addresses of the pool that NICs hold."""
        stmt = select(IpAllocation.address).where(
            IpAllocation.pool_id == pool_id, IpAllocation.nic_id.is_not(None)
        )
        return self.session.scalars(stmt).all()

    def delete_unbound(self, pool_id: uuid.UUID) -> None:
        """Drop the pool's allocations that no NIC holds (reservations)."""
        stmt = delete(IpAllocation).where(
            IpAllocation.pool_id == pool_id, IpAllocation.nic_id.is_(None)
        )
        self.session.execute(stmt)
