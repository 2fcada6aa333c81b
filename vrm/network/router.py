"""``/api/v1/dvs``, ``/api/v1/port-groups`` and ``/api/v1/ip-pools``."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, status

from vrm.deps import CurrentUser, SessionDep, Writer
from vrm.errors import Conflict, Forbidden, NotFound, ValidationFailed, error_responses
from vrm.listing import ListDep, TextFilter
from vrm.network import pools, service
from vrm.network.schemas import (
    DvsCreate,
    DvsRead,
    DvsUpdate,
    IpAllocationRead,
    IpPoolCreate,
    IpPoolRead,
    IpPoolUpdate,
    PortGroupCreate,
    PortGroupRead,
    PortGroupUpdate,
)
from vrm.schemas import Page

router = APIRouter(tags=["network"])

_WRITE_ERRORS = error_responses(Conflict, Forbidden, ValidationFailed)
_CHANGE_ERRORS = error_responses(Conflict, Forbidden, NotFound, ValidationFailed)
_DELETE_ERRORS = error_responses(Conflict, Forbidden, NotFound)


def _pool_read(view: pools.PoolView) -> IpPoolRead:
    return IpPoolRead.of(view.pool, view.ranges, view.bound, view.reserved)


@router.get("/dvs", responses=error_responses(ValidationFailed))
def list_dvs(
    session: SessionDep,
    _user: CurrentUser,
    params: ListDep,
    site_id: uuid.UUID | None = None,
    name: TextFilter = None,
) -> Page[DvsRead]:
    """List distributed virtual switches, filtered by site or name."""
    items, total = service.list_dvs(
        session, params=params, filters={"site_id": site_id, "name": name}
    )
    return Page(items=[DvsRead.model_validate(d) for d in items], total=total)


@router.post("/dvs", status_code=status.HTTP_201_CREATED, responses=_WRITE_ERRORS)
def create_dvs(session: SessionDep, user: Writer, data: DvsCreate) -> DvsRead:
    """Create a distributed virtual switch."""
    return DvsRead.model_validate(service.create_dvs(session, actor=user, data=data))


@router.get("/dvs/{dvs_id}", responses=error_responses(NotFound))
def get_dvs(session: SessionDep, _user: CurrentUser, dvs_id: uuid.UUID) -> DvsRead:
    """One distributed virtual switch."""
    return DvsRead.model_validate(service.get_dvs(session, dvs_id=dvs_id))


@router.patch("/dvs/{dvs_id}", responses=_CHANGE_ERRORS)
def update_dvs(session: SessionDep, user: Writer, dvs_id: uuid.UUID, data: DvsUpdate) -> DvsRead:
    """Change a DVS's name, description, uplink or MTU."""
    return DvsRead.model_validate(service.update_dvs(session, actor=user, dvs_id=dvs_id, data=data))


@router.delete("/dvs/{dvs_id}", status_code=status.HTTP_204_NO_CONTENT, responses=_DELETE_ERRORS)
def delete_dvs(session: SessionDep, user: Writer, dvs_id: uuid.UUID) -> None:
    """Delete a DVS that has no port groups."""
    service.delete_dvs(session, actor=user, dvs_id=dvs_id)


@router.get("/port-groups", responses=error_responses(ValidationFailed))
def list_port_groups(
    session: SessionDep,
    _user: CurrentUser,
    params: ListDep,
    dvs_id: uuid.UUID | None = None,
    vlan_id: Annotated[int | None, Query(ge=0, le=4094)] = None,
    name: TextFilter = None,
) -> Page[PortGroupRead]:
    """List port groups, filtered by DVS, VLAN or name."""
    filters = {"dvs_id": dvs_id, "vlan_id": vlan_id, "name": name}
    items, total = service.list_port_groups(session, params=params, filters=filters)
    return Page(items=[PortGroupRead.model_validate(p) for p in items], total=total)


@router.post("/port-groups", status_code=status.HTTP_201_CREATED, responses=_WRITE_ERRORS)
def create_port_group(session: SessionDep, user: Writer, data: PortGroupCreate) -> PortGroupRead:
    """Create a port group on a DVS."""
    port_group = service.create_port_group(session, actor=user, data=data)
    return PortGroupRead.model_validate(port_group)


@router.get("/port-groups/{port_group_id}", responses=error_responses(NotFound))
def get_port_group(
    session: SessionDep, _user: CurrentUser, port_group_id: uuid.UUID
) -> PortGroupRead:
    """One port group."""
    port_group = service.get_port_group(session, port_group_id=port_group_id)
    return PortGroupRead.model_validate(port_group)


@router.patch("/port-groups/{port_group_id}", responses=_CHANGE_ERRORS)
def update_port_group(
    session: SessionDep, user: Writer, port_group_id: uuid.UUID, data: PortGroupUpdate
) -> PortGroupRead:
    """Change a port group's name, description or VLAN."""
    port_group = service.update_port_group(
        session, actor=user, port_group_id=port_group_id, data=data
    )
    return PortGroupRead.model_validate(port_group)


@router.delete(
    "/port-groups/{port_group_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=_DELETE_ERRORS,
)
def delete_port_group(session: SessionDep, user: Writer, port_group_id: uuid.UUID) -> None:
    """Delete a port group that no VM NIC and no IP pool uses."""
    service.delete_port_group(session, actor=user, port_group_id=port_group_id)


@router.get("/ip-pools", responses=error_responses(ValidationFailed))
def list_ip_pools(
    session: SessionDep,
    _user: CurrentUser,
    params: ListDep,
    port_group_id: uuid.UUID | None = None,
    name: TextFilter = None,
) -> Page[IpPoolRead]:
    """List IP pools with their ranges and counts, filtered by port group or name."""
    filters = {"port_group_id": port_group_id, "name": name}
    views, total = pools.list_pools(session, params=params, filters=filters)
    return Page(items=[_pool_read(v) for v in views], total=total)


@router.post("/ip-pools", status_code=status.HTTP_201_CREATED, responses=_WRITE_ERRORS)
def create_ip_pool(session: SessionDep, user: Writer, data: IpPoolCreate) -> IpPoolRead:
    """Create an IP pool on a port group."""
    return _pool_read(pools.create_pool(session, actor=user, data=data))


@router.get("/ip-pools/{pool_id}", responses=error_responses(NotFound))
def get_ip_pool(session: SessionDep, _user: CurrentUser, pool_id: uuid.UUID) -> IpPoolRead:
    """One IP pool with its ranges and counts."""
    return _pool_read(pools.get_pool(session, pool_id=pool_id))


@router.patch("/ip-pools/{pool_id}", responses=_CHANGE_ERRORS)
def update_ip_pool(
    session: SessionDep, user: Writer, pool_id: uuid.UUID, data: IpPoolUpdate
) -> IpPoolRead:
    """Change a pool's name, description, gateway, DNS servers or whole range list."""
    return _pool_read(pools.update_pool(session, actor=user, pool_id=pool_id, data=data))


@router.delete(
    "/ip-pools/{pool_id}", status_code=status.HTTP_204_NO_CONTENT, responses=_DELETE_ERRORS
)
def delete_ip_pool(session: SessionDep, user: Writer, pool_id: uuid.UUID) -> None:
    """Delete a pool none of whose addresses is bound to a VM NIC."""
    pools.delete_pool(session, actor=user, pool_id=pool_id)


@router.get(
    "/ip-pools/{pool_id}/allocations", responses=error_responses(NotFound, ValidationFailed)
)
def list_ip_allocations(
    session: SessionDep,
    _user: CurrentUser,
    params: ListDep,
    pool_id: uuid.UUID,
    nic_id: uuid.UUID | None = None,
    reserved: bool | None = None,
) -> Page[IpAllocationRead]:
    """List a pool's allocated and reserved addresses, filtered by NIC or reservation."""
    filters = {"nic_id": nic_id, "reserved": reserved}
    items, total = pools.list_allocations(session, pool_id=pool_id, params=params, filters=filters)
    return Page(items=[IpAllocationRead.model_validate(a) for a in items], total=total)
