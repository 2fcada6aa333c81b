"""Cluster pages: a table of clusters and one cluster's settings, hosts and placement rules."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from vrm.clusters import service as clusters
from vrm.clusters.repository import ClusterRepository
from vrm.deps import SessionDep
from vrm.listing import ListParams
from vrm.models.enums import DrsMode, PlacementPolicy, RuleKind
from vrm.scheduler import rules
from vrm.web.dashboard_repository import DashboardRepository
from vrm.web.deps import PageUser
from vrm.web.render import page
from vrm.web.service import Ratios, cluster_allocations, host_allocation, usage_of
from vrm.web.tables import TableSpec

router = APIRouter(include_in_schema=False)

CLUSTER_TABLE = TableSpec(
    sortable=("name", "drs_mode", "created_at"),
    default_sort="name",
    filters={"drs_mode": frozenset(mode.value for mode in DrsMode)},
)
# A rule names VMs from a list of the cluster's first VMs by name; more are set through
# the API (PATCH /placement-rules/{id}).
RULE_VM_CHOICES = 500
RULES_SHOWN = ListParams(limit=200, sort=("name",))


@router.get("/clusters", response_class=HTMLResponse)
def cluster_list(request: Request, session: SessionDep, user: PageUser) -> HTMLResponse:
    """Clusters with their settings, hosts, VMs and allocation; a create form for writers."""
    table = CLUSTER_TABLE.read(request)
    items, total = ClusterRepository(session).page(table.params, table.where())
    ids = [c.id for c in items]
    repo = DashboardRepository(session)
    ratios = {c.id: Ratios(c.cpu_overcommit, c.mem_overcommit) for c in items}
    return page(
        request,
        "clusters/list.html",
        user=user,
        section="clusters",
        table=table,
        clusters=items,
        total=total,
        hosts=repo.hosts_per_cluster(ids),
        vms=repo.vms_per_cluster(ids),
        allocation=cluster_allocations(session, ratios),
        drs_modes=list(DrsMode),
        policies=list(PlacementPolicy),
    )


@router.get("/clusters/{cluster_id}", response_class=HTMLResponse)
def cluster_detail(
    request: Request, session: SessionDep, user: PageUser, cluster_id: uuid.UUID
) -> HTMLResponse:
    """One cluster: settings (editable by writers), hosts and placement rules."""
    cluster = clusters.get_cluster(session, cluster_id=cluster_id)
    ratios = Ratios(cluster.cpu_overcommit, cluster.mem_overcommit)
    repo = DashboardRepository(session)
    hosts = repo.cluster_hosts(cluster.id)
    found, _ = rules.list_rules(session, params=RULES_SHOWN, filters={"cluster_id": cluster.id})
    return page(
        request,
        "clusters/detail.html",
        user=user,
        section="clusters",
        cluster=cluster,
        hosts=hosts,
        host_names={h["id"]: h["name"] for h in hosts},
        allocation={h["id"]: host_allocation(h, ratios) for h in hosts},
        usage={h["id"]: usage_of(h["usage"]) for h in hosts},
        total=cluster_allocations(session, {cluster.id: ratios})[cluster.id],
        vm_count=repo.vms_per_cluster([cluster.id]).get(cluster.id, 0),
        rules=found,
        vm_names=repo.vm_names({v for r in found for v in r.vm_ids}),
        vm_choices=repo.cluster_vm_choices(cluster.id, RULE_VM_CHOICES),
        vm_choice_limit=RULE_VM_CHOICES,
        rule_kinds=list(RuleKind),
        drs_modes=list(DrsMode),
        policies=list(PlacementPolicy),
    )
