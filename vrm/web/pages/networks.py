"""Network pages: switches, port groups, IP pools with their counts and allocations."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from vrm.deps import SessionDep
from vrm.listing import ListParams
from vrm.models import Dvs, PortGroup
from vrm.network import pools, service
from vrm.network.schemas import IpPoolRead
from vrm.web.deps import PageUser
from vrm.web.networks_repository import NetworkPageRepository
from vrm.web.render import page
from vrm.web.repository import InventoryRepository
from vrm.web.tables import TableSpec

router = APIRouter(include_in_schema=False)

# Switches, port groups and pools are tens, not thousands: each list is one page.
_ALL = 1000
ALLOCATION_TABLE = TableSpec(
    sortable=("address", "created_at"),
    default_sort="address",
    filters={"reserved": frozenset({"true", "false"})},
    search="address",
)


@router.get("/networks", response_class=HTMLResponse)
def network_overview(request: Request, session: SessionDep, user: PageUser) -> HTMLResponse:
    """Every DVS, port group and IP pool, with the forms that create them."""
    switches = _switches(session)
    groups = _port_groups(session)
    views, _ = pools.list_pools(session, params=_by_name(), filters={})
    return page(
        request,
        "networks/overview.html",
        user=user,
        section="networks",
        switches=switches,
        groups=groups,
        ip_pools=[_pool(v) for v in views],
        sites=_site_names(session),
        dvs_names={d.id: d.name for d in switches},
        group_names={g.id: g.name for g in groups},
        group_counts=_count_by(g.dvs_id for g in groups),
        trunks={g.id: vlan_ranges(g.trunk_vlans) for g in groups},
    )


@router.get("/networks/dvs/{dvs_id}", response_class=HTMLResponse)
def dvs_detail(
    request: Request, session: SessionDep, user: PageUser, dvs_id: uuid.UUID
) -> HTMLResponse:
    """One DVS, its port groups, and its edit form."""
    dvs = service.get_dvs(session, dvs_id=dvs_id)
    groups, _ = service.list_port_groups(session, params=_by_name(), filters={"dvs_id": dvs.id})
    return page(
        request,
        "networks/dvs.html",
        user=user,
        section="networks",
        dvs=dvs,
        groups=groups,
        trunks={g.id: vlan_ranges(g.trunk_vlans) for g in groups},
        site_name=_site_names(session).get(dvs.site_id, "—"),
    )


@router.get("/networks/port-groups/{port_group_id}", response_class=HTMLResponse)
def port_group_detail(
    request: Request, session: SessionDep, user: PageUser, port_group_id: uuid.UUID
) -> HTMLResponse:
    """One port group, the IP pools on it, and its edit form."""
    group = service.get_port_group(session, port_group_id=port_group_id)
    views, _ = pools.list_pools(session, params=_by_name(), filters={"port_group_id": group.id})
    return page(
        request,
        "networks/port_group.html",
        user=user,
        section="networks",
        group=group,
        dvs=service.get_dvs(session, dvs_id=group.dvs_id),
        trunk=vlan_ranges(group.trunk_vlans),
        ip_pools=[_pool(v) for v in views],
    )


@router.get("/networks/ip-pools/{pool_id}", response_class=HTMLResponse)
def ip_pool_detail(
    request: Request, session: SessionDep, user: PageUser, pool_id: uuid.UUID
) -> HTMLResponse:
    """One IP pool: its addresses, counts, allocation list (paged) and edit form."""
    pool = _pool(pools.get_pool(session, pool_id=pool_id))
    table = ALLOCATION_TABLE.read(request)
    filters: dict[str, Any] = table.where()
    if "reserved" in table.filters:
        filters["reserved"] = table.filters["reserved"] == "true"
    allocations, total = pools.list_allocations(
        session, pool_id=pool.id, params=table.params, filters=filters
    )
    owners = NetworkPageRepository(session).nic_owners(
        a.nic_id for a in allocations if a.nic_id is not None
    )
    group = service.get_port_group(session, port_group_id=pool.port_group_id)
    return page(
        request,
        "networks/ip_pool.html",
        user=user,
        section="networks",
        pool=pool,
        group=group,
        table=table,
        allocations=allocations,
        total=total,
        owners=owners,
    )


def vlan_ranges(vlans: Sequence[int]) -> str:
    """Trunk VLANs as short text: ``[10, 11, 12, 20]`` -> ``10-12, 20``."""
    runs: list[list[int]] = []
    for vlan in sorted(vlans):
        if runs and vlan == runs[-1][1] + 1:
            runs[-1][1] = vlan
        else:
            runs.append([vlan, vlan])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)


def _by_name() -> ListParams:
    return ListParams(limit=_ALL, sort=("name",))


def _switches(session: Session) -> Sequence[Dvs]:
    items, _ = service.list_dvs(session, params=_by_name(), filters={})
    return items


def _port_groups(session: Session) -> Sequence[PortGroup]:
    items, _ = service.list_port_groups(session, params=_by_name(), filters={})
    return items


def _pool(view: pools.PoolView) -> IpPoolRead:
    """A pool as the API shows it: the same counts on the page as in ``/api/v1``."""
    return IpPoolRead.of(view.pool, view.ranges, view.bound, view.reserved)


def _site_names(session: Session) -> dict[uuid.UUID, str]:
    return {row["id"]: row["name"] for row in InventoryRepository(session).sites()}


def _count_by(keys: Iterable[uuid.UUID]) -> dict[uuid.UUID, int]:
    counts: dict[uuid.UUID, int] = {}
    for key in keys:
        counts[key] = counts.get(key, 0) + 1
    return counts
