"""VM pages: the inventory tree beside a table of VMs (search, sort, filter, page)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from vrm.deps import SessionDep
from vrm.models.enums import VmState
from vrm.vms import views
from vrm.web import inventory
from vrm.web.deps import PageUser
from vrm.web.render import page
from vrm.web.tables import TableSpec

router = APIRouter(include_in_schema=False)

VM_TABLE = TableSpec(
    sortable=("name", "state", "created_at", "updated_at"),
    default_sort="name",
    filters={
        "state": frozenset(state.value for state in VmState),
        "cluster_id": None,
        "host_id": None,
    },
)


@router.get("/vms", response_class=HTMLResponse)
def vm_list(request: Request, session: SessionDep, user: PageUser) -> HTMLResponse:
    """VMs (not templates) in a table, with the inventory tree beside it."""
    table = VM_TABLE.read(request)
    vms = views.vm_page(session, params=table.params, filters=table.where(is_template=False))
    sites = inventory.tree(session)
    clusters = {c.id: c.name for s in sites for c in s.clusters}
    hosts = {h.id: h.name for s in sites for c in s.clusters for h in c.hosts}
    return page(
        request,
        "vms/list.html",
        user=user,
        section="vms",
        table=table,
        vms=vms,
        sites=sites,
        cluster_names=clusters,
        host_names=hosts,
        states=list(VmState),
    )


@router.get("/ui/tree/hosts/{host_id}", response_class=HTMLResponse)
def host_branch(
    request: Request, session: SessionDep, user: PageUser, host_id: uuid.UUID
) -> HTMLResponse:
    """The VMs of one host's branch of the tree (loaded when the branch opens)."""
    return page(
        request,
        "vms/_host_branch.html",
        user=user,
        vms=inventory.vms_on(session, host_id),
        limit=inventory.VMS_PER_HOST,
        host_id=host_id,
    )
