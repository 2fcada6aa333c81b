"""IP pool rules: names unique, CIDRs disjoint per port group, ranges valid and disjoint.

Check order: every 422 (the request's own values) before any 409 (clashes with
stored state), so a client fixes its input first. A gateway inside a range is a
409 ``gateway_in_range``, like two overlapping ranges.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from vrm.audit.service import record
from vrm.auth.principal import Principal
from vrm.crud import ensure_unique, get_or_404, get_ref_or_422
from vrm.errors import Conflict
from vrm.listing import ListParams
from vrm.models import IpAllocation, IpPool, IpRange
from vrm.models.base import utcnow
from vrm.network import ipam
from vrm.network.repository import (
    IpAllocationRepository,
    IpPoolRepository,
    IpRangeRepository,
    PortGroupRepository,
)
from vrm.network.schemas import IpPoolCreate, IpPoolUpdate, IpRangeSpec

KIND = "ip pool"
_SCALARS = ("name", "description", "gateway", "dns_servers")


@dataclass(frozen=True, slots=True)
class PoolView:
    """A pool with its ranges, how many addresses NICs hold, and its reserved addresses."""

    pool: IpPool
    ranges: Sequence[IpRange]
    bound: int
    reserved: Sequence[str]


def _name_taken(name: str) -> str:
    return f"an IP pool named {name!r} already exists"


def _pairs(ranges: Sequence[IpRangeSpec]) -> list[tuple[str, str]]:
    return [(r.start, r.end) for r in ranges]


def list_pools(
    session: Session, *, params: ListParams, filters: Mapping[str, object]
) -> tuple[list[PoolView], int]:
    """A page of pools with their ranges and counts."""
    pools, total = IpPoolRepository(session).page(params, filters)
    return _views(session, pools), total


def get_pool(session: Session, *, pool_id: uuid.UUID) -> PoolView:
    """One pool with its ranges and counts, or 404."""
    return _views(session, [get_or_404(IpPoolRepository(session), pool_id, KIND)])[0]


def create_pool(session: Session, *, actor: Principal, data: IpPoolCreate) -> PoolView:
    """Create a pool on a port group after checking its addresses."""
    get_ref_or_422(PortGroupRepository(session), data.port_group_id, "port group", "port_group_id")
    network = ipam.parse_cidr(data.cidr)
    ipam.check_gateway(network, data.gateway)
    spans = ipam.check_ranges(network, _pairs(data.ranges))
    ipam.check_gateway_not_in_ranges(data.gateway, spans)
    ipam.check_inside(network, "reserved", data.reserved)
    repo = IpPoolRepository(session)
    ensure_unique(repo, _name_taken(data.name), name=data.name)
    PortGroupRepository(session).lock(data.port_group_id)
    _check_no_cidr_overlap(repo, data.port_group_id, network)
    pool = IpPool(**data.model_dump(exclude={"cidr", "ranges", "reserved"}), cidr=str(network))
    repo.add(pool, conflict=_name_taken(data.name))
    IpRangeRepository(session).replace(pool.id, [(str(s.start), str(s.end)) for s in spans])
    _reserve(session, pool, data.reserved)
    record(session, actor=actor, action="ip_pool.create", target_type=KIND, target_id=pool.id)
    return get_pool(session, pool_id=pool.id)


def update_pool(
    session: Session, *, actor: Principal, pool_id: uuid.UUID, data: IpPoolUpdate
) -> PoolView:
    """Change a pool's name, description, gateway, DNS servers or its whole range list."""
    repo = IpPoolRepository(session)
    pool = get_or_404(repo, pool_id, KIND)
    changes = data.model_dump(exclude_unset=True)
    network = ipam.parse_cidr(pool.cidr)
    gateway = changes.get("gateway", pool.gateway)
    ipam.check_gateway(network, gateway)
    if data.ranges is not None:
        spans = ipam.check_ranges(network, _pairs(data.ranges))
    else:
        spans = ipam.spans_of((r.start, r.end) for r in _ranges(session, pool.id))
    ipam.check_gateway_not_in_ranges(gateway, spans)
    if data.reserved is not None:
        ipam.check_inside(network, "reserved", data.reserved)
    if data.name is not None and data.name != pool.name:
        ensure_unique(repo, _name_taken(data.name), name=data.name)
    repo.lock(pool.id)
    if data.ranges is not None:
        _check_allocations_kept(session, pool, spans)
        IpRangeRepository(session).replace(pool.id, [(str(s.start), str(s.end)) for s in spans])
        pool.updated_at = utcnow()
    if data.reserved is not None:
        IpAllocationRepository(session).delete_unbound(pool.id)
        _reserve(session, pool, data.reserved)
        pool.updated_at = utcnow()
    for field in _SCALARS:
        if field in changes:
            setattr(pool, field, changes[field])
    repo.flush(conflict=_name_taken(pool.name))
    record(
        session,
        actor=actor,
        action="ip_pool.update",
        target_type=KIND,
        target_id=pool.id,
        details=changes,
    )
    return get_pool(session, pool_id=pool.id)


def delete_pool(session: Session, *, actor: Principal, pool_id: uuid.UUID) -> None:
    """Delete a pool (and its reservations); 409 ``ip_pool_in_use`` while NICs hold addresses."""
    repo = IpPoolRepository(session)
    pool = get_or_404(repo, pool_id, KIND)
    allocations = IpAllocationRepository(session)
    bound = allocations.count_bound(pool.id)
    if bound:
        raise Conflict(
            f"IP pool {pool.name!r} has {bound} address(es) bound to VM NICs",
            code="ip_pool_in_use",
            details={"bound": bound},
        )
    allocations.delete_unbound(pool.id)
    repo.delete(pool, conflict=f"IP pool {pool.name!r} is still in use")
    record(session, actor=actor, action="ip_pool.delete", target_type=KIND, target_id=pool_id)


def list_allocations(
    session: Session, *, pool_id: uuid.UUID, params: ListParams, filters: Mapping[str, object]
) -> tuple[Sequence[IpAllocation], int]:
    """A page of a pool's allocations; 404 when the pool does not exist."""
    pool = get_or_404(IpPoolRepository(session), pool_id, KIND)
    return IpAllocationRepository(session).page(params, {**filters, "pool_id": pool.id})


def _views(session: Session, pools: Sequence[IpPool]) -> list[PoolView]:
    """Pools with their ranges and allocation counts, in two queries for the lot."""
    ids = [pool.id for pool in pools]
    ranges = IpRangeRepository(session).of_pools(ids)
    allocations = IpAllocationRepository(session)
    bound, reserved = allocations.bound_counts(ids), allocations.reserved(ids)
    return [
        PoolView(p, ranges.get(p.id, []), bound.get(p.id, 0), reserved.get(p.id, [])) for p in pools
    ]


def _reserve(session: Session, pool: IpPool, addresses: Sequence[str]) -> None:
    """Reservation rows for ``addresses``; 409 ``ip_in_use`` when a NIC holds one."""
    allocations = IpAllocationRepository(session)
    held = allocations.holders(pool.id, addresses) if addresses else []
    if held:
        holder = held[0]
        raise Conflict(
            f"address {holder.address} of IP pool {pool.name!r} is held by the NIC with MAC "
            f"{holder.mac}; it cannot be reserved",
            code="ip_in_use",
            details={"address": holder.address, "mac": holder.mac},
        )
    session.add_all(IpAllocation(pool_id=pool.id, address=a, reserved=True) for a in addresses)
    allocations.flush(conflict=f"the reserved addresses of IP pool {pool.name!r} changed meanwhile")


def _ranges(session: Session, pool_id: uuid.UUID) -> list[IpRange]:
    return IpRangeRepository(session).of_pools([pool_id]).get(pool_id, [])


def _check_no_cidr_overlap(
    repo: IpPoolRepository, port_group_id: uuid.UUID, network: ipam.Network
) -> None:
    """409 ``cidr_overlap`` when another pool of the port group shares addresses."""
    pools = {pool.cidr: pool for pool in repo.on_port_group(port_group_id)}
    clash = ipam.overlapping(network, pools)
    if clash is not None:
        other = pools[clash]
        raise Conflict(
            f"cidr {network} overlaps {clash} of IP pool {other.name!r} on this port group",
            code="cidr_overlap",
            details={"ip_pool_id": str(other.id), "cidr": clash},
        )


def _check_allocations_kept(session: Session, pool: IpPool, spans: Sequence[ipam.Span]) -> None:
    """409 ``ip_range_in_use``: new ranges must still hold every allocated address."""
    stranded = ipam.outside(IpAllocationRepository(session).bound_addresses(pool.id), spans)
    if stranded:
        raise Conflict(
            f"{len(stranded)} allocated address(es) of IP pool {pool.name!r} would fall "
            f"outside the new ranges, e.g. {stranded[0]}",
            code="ip_range_in_use",
            details={"addresses": stranded[:20]},
        )
