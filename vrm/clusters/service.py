"""Cluster rules: names unique per site, no deletion while hosts or VMs remain."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence

from sqlalchemy.orm import Session

from vrm.audit.service import record
from vrm.auth.principal import Principal
from vrm.clusters.repository import ClusterRepository
from vrm.clusters.schemas import ClusterCreate, ClusterUpdate
from vrm.crud import apply_update, ensure_unique, get_or_404, get_ref_or_422
from vrm.errors import Conflict
from vrm.hosts.repository import HostRepository
from vrm.listing import ListParams
from vrm.models import Cluster
from vrm.sites.repository import DEFAULT_SITE_ID, SiteRepository
from vrm.vms.repository import VmRepository

KIND = "cluster"


def _name_taken(name: str) -> str:
    return f"a cluster named {name!r} already exists in this site"


def list_clusters(
    session: Session, *, params: ListParams, filters: Mapping[str, object]
) -> tuple[Sequence[Cluster], int]:
    """A page of clusters."""
    return ClusterRepository(session).page(params, filters)


def get_cluster(session: Session, *, cluster_id: uuid.UUID) -> Cluster:
    """One cluster, or 404."""
    return get_or_404(ClusterRepository(session), cluster_id, KIND)


def create_cluster(session: Session, *, actor: Principal, data: ClusterCreate) -> Cluster:
    """Create a cluster in its site (the default site when none is named)."""
    site = get_ref_or_422(
        SiteRepository(session), data.site_id or DEFAULT_SITE_ID, "site", "site_id"
    )
    repo = ClusterRepository(session)
    ensure_unique(repo, _name_taken(data.name), site_id=site.id, name=data.name)
    cluster = Cluster(**data.model_dump(exclude={"site_id"}), site_id=site.id)
    repo.add(cluster, conflict=_name_taken(data.name))
    record(session, actor=actor, action="cluster.create", target_type=KIND, target_id=cluster.id)
    return cluster


def update_cluster(
    session: Session, *, actor: Principal, cluster_id: uuid.UUID, data: ClusterUpdate
) -> Cluster:
    """Rename a cluster or change its settings."""
    repo = ClusterRepository(session)
    cluster = get_or_404(repo, cluster_id, KIND)
    if data.name is not None and data.name != cluster.name:
        ensure_unique(repo, _name_taken(data.name), site_id=cluster.site_id, name=data.name)
    changes = apply_update(cluster, data)
    repo.flush(conflict=_name_taken(cluster.name))
    record(
        session,
        actor=actor,
        action="cluster.update",
        target_type=KIND,
        target_id=cluster.id,
        details=changes,
    )
    return cluster


def delete_cluster(session: Session, *, actor: Principal, cluster_id: uuid.UUID) -> None:
    """Delete an empty cluster; 409 while hosts or VMs remain in it."""
    repo = ClusterRepository(session)
    cluster = get_or_404(repo, cluster_id, KIND)
    hosts = HostRepository(session).count(cluster_id=cluster.id)
    vms = VmRepository(session).count(cluster_id=cluster.id)
    if hosts or vms:
        raise Conflict(
            f"cluster {cluster.name!r} still has {hosts} host(s) and {vms} VM(s)",
            code="cluster_not_empty",
            details={"hosts": hosts, "vms": vms},
        )
    repo.delete(cluster, conflict=f"cluster {cluster.name!r} is still in use")
    record(session, actor=actor, action="cluster.delete", target_type=KIND, target_id=cluster_id)
