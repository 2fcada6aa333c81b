"""Host pages: a table of hosts (search, state, cluster, sort, page) and one host's page."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from vrm.deps import SessionDep
from vrm.hosts import service as hosts
from vrm.hosts.repository import HostRepository
from vrm.models.enums import HostState, VmState
from vrm.vms import views
from vrm.web.dashboard_repository import DashboardRepository
from vrm.web.deps import PageUser
from vrm.web.render import page
from vrm.web.service import Ratios, cluster_ratios, host_allocation, usage_of
from vrm.web.tables import TableSpec

router = APIRouter(include_in_schema=False)

HOST_TABLE = TableSpec(
    sortable=("name", "state", "cpu_threads", "memory_mib", "last_heartbeat_at", "created_at"),
    default_sort="name",
    filters={"state": frozenset(state.value for state in HostState), "cluster_id": None},
)
HOST_VM_TABLE = TableSpec(
    sortable=("name", "state", "created_at"),
    default_sort="name",
    filters={"state": frozenset(state.value for state in VmState)},
)


@router.get("/hosts", response_class=HTMLResponse)
def host_list(request: Request, session: SessionDep, user: PageUser) -> HTMLResponse:
    """Hosts in a table with their state, usage and allocation, updated live."""
    table = HOST_TABLE.read(request)
    items, total = HostRepository(session).page(table.params, table.where())
    repo = DashboardRepository(session)
    ratios = cluster_ratios(session, list({h.cluster_id for h in items}))
    rows = {row["id"]: row for row in repo.capacity_rows(host_ids=[h.id for h in items])}
    return page(
        request,
        "hosts/list.html",
        user=user,
        section="hosts",
        table=table,
        hosts=items,
        total=total,
        clusters=repo.clusters(),
        usage={h.id: usage_of(h.usage) for h in items},
        allocation={
            h.id: host_allocation(rows[h.id], ratios.get(h.cluster_id, Ratios())) for h in items
        },
        vm_counts=repo.vms_per_host([h.id for h in items]),
        states=list(HostState),
    )


@router.get("/hosts/{host_id}", response_class=HTMLResponse)
def host_detail(
    request: Request, session: SessionDep, user: PageUser, host_id: uuid.UUID
) -> HTMLResponse:
    """One host: facts, live usage, placed against capacity, datastores and its VMs."""
    host = hosts.get_host(session, host_id=host_id)
    repo = DashboardRepository(session)
    cluster = next(iter(repo.clusters([host.cluster_id])), None)
    ratios = cluster_ratios(session, [host.cluster_id]).get(host.cluster_id, Ratios())
    capacity = repo.capacity_rows(host_ids=[host.id])[0]
    table = HOST_VM_TABLE.read(request)
    vms = views.vm_page(
        session, params=table.params, filters=table.where(host_id=host.id, is_template=False)
    )
    return page(
        request,
        "hosts/detail.html",
        user=user,
        section="hosts",
        host=host,
        cluster=cluster,
        ratios=ratios,
        usage=usage_of(host.usage),
        allocation=host_allocation(capacity, ratios),
        datastores=repo.host_datastores(host.id),
        table=table,
        vms=vms,
        vm_states=list(VmState),
    )
