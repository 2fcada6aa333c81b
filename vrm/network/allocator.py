"""Handing out the addresses of IP pools to NICs, never one address twice.

A NIC on a port group that has pools gets one address per IP version those pools offer:
the address asked for (it must lie in a range of one of the pools and be free), or else
the lowest free address of the oldest pool of that version that still has one. Each
pool is locked while its address is chosen and inserted (``FOR UPDATE`` on PostgreSQL,
the database write lock on SQLite), and the unique ``(pool, address)`` constraint is the
backstop. Addresses go back to the pool when the NIC row is deleted (the database
cascades), which VM flows do only once the domain is gone.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence

from sqlalchemy.orm import Session

from vrm.errors import Conflict, ValidationFailed
from vrm.models import IpAllocation, IpPool, VmNic
from vrm.network import ipam
from vrm.network.repository import IpAllocationRepository, IpPoolRepository, IpRangeRepository


def assign(session: Session, nic: VmNic, requested: Sequence[str] = ()) -> list[IpAllocation]:
    """Allocate the NIC's addresses (the NIC row must exist, flushed); [] without pools."""
    pools = IpPoolRepository(session).on_port_group(nic.port_group_id)
    if not pools:
        if requested:
            raise ValidationFailed(
                "the NIC's port group has no IP pool to take addresses from",
                code="no_ip_pool",
                details={"port_group_id": str(nic.port_group_id)},
            )
        return []
    networks = {pool.id: ipam.parse_cidr(pool.cidr) for pool in pools}
    taken: list[IpAllocation] = []
    for text in requested:
        pool = _pool_holding(pools, networks, text)
        if any(networks[a.pool_id].version == networks[pool.id].version for a in taken):
            raise ValidationFailed(
                f"a NIC takes one address per IP version; {text} is a second IPv"
                f"{networks[pool.id].version} address",
                code="duplicate_ip_version",
                details={"address": text},
            )
        taken.append(_take(session, pool, nic, ipam.address(text)))
    done = {networks[a.pool_id].version for a in taken}
    for version in sorted({n.version for n in networks.values()} - done):
        taken.append(
            _take_any(session, [p for p in pools if networks[p.id].version == version], nic)
        )
    return taken


def release(session: Session, nic_ids: Sequence[uuid.UUID]) -> None:
    """Give the NICs' addresses back now (the NICs stay): for an address change."""
    IpAllocationRepository(session).delete_of_nics(nic_ids)


def _pool_holding(
    pools: Sequence[IpPool], networks: dict[uuid.UUID, ipam.Network], text: str
) -> IpPool:
    """The pool whose CIDR holds ``text``; 422 ``ip_outside_cidr`` when none does."""
    point = ipam.address(text)
    for pool in pools:
        network = networks[pool.id]
        if point.version == network.version and point in network:
            return pool
    cidrs = [pool.cidr for pool in pools]
    raise ValidationFailed(
        f"{text} is in none of the port group's IP pools ({', '.join(cidrs)})",
        code="ip_outside_cidr",
        details={"address": text, "cidrs": cidrs},
    )


def _take(session: Session, pool: IpPool, nic: VmNic, point: ipam.Address) -> IpAllocation:
    """The address ``point`` of ``pool`` for the NIC: 422 outside the ranges, 409 when taken."""
    IpPoolRepository(session).lock(pool.id)
    if not any(point in span for span in _spans(session, pool)):
        raise ValidationFailed(
            f"{point} is not in a range of IP pool {pool.name!r}",
            code="ip_outside_range",
            details={"address": str(point), "ip_pool_id": str(pool.id)},
        )
    holder = IpAllocationRepository(session).get_by(pool_id=pool.id, address=str(point))
    if holder is not None:
        raise _in_use(pool, str(point), holder)
    return _insert(session, pool, nic, str(point))


def _take_any(session: Session, pools: Sequence[IpPool], nic: VmNic) -> IpAllocation:
    """The lowest free address of the first of ``pools`` that has one; 409 when none has."""
    allocations = IpAllocationRepository(session)
    for pool in pools:
        IpPoolRepository(session).lock(pool.id)
        used = {int(ipam.address(a)) for a in allocations.addresses(pool.id)}
        free = next(_free(_spans(session, pool), used), None)
        if free is not None:
            return _insert(session, pool, nic, str(free))
    names = [pool.name for pool in pools]
    raise Conflict(
        f"IP pool(s) {', '.join(map(repr, names))} have no free address left",
        code="ip_pool_exhausted",
        details={"ip_pool_ids": [str(pool.id) for pool in pools]},
    )


def _free(spans: Sequence[ipam.Span], used: set[int]) -> Iterator[ipam.Address]:
    for span in spans:
        for value in range(int(span.start), int(span.end) + 1):
            if value not in used:
                yield type(span.start)(value)


def _spans(session: Session, pool: IpPool) -> list[ipam.Span]:
    ranges = IpRangeRepository(session).of_pools([pool.id]).get(pool.id, [])
    return ipam.sort_spans(ipam.spans_of((r.start, r.end) for r in ranges))


def _insert(session: Session, pool: IpPool, nic: VmNic, text: str) -> IpAllocation:
    allocation = IpAllocation(pool_id=pool.id, address=text, nic_id=nic.id, mac=nic.mac)
    session.add(allocation)
    IpAllocationRepository(session).flush(conflict=f"address {text} was taken meanwhile")
    return allocation


def _in_use(pool: IpPool, text: str, holder: IpAllocation) -> Conflict:
    what = "reserved" if holder.nic_id is None else f"held by the NIC with MAC {holder.mac}"
    return Conflict(
        f"address {text} of IP pool {pool.name!r} is {what}",
        code="ip_in_use",
        details={"address": text, "ip_pool_id": str(pool.id), "mac": holder.mac},
    )
