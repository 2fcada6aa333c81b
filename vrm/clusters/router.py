"""``/api/v1/clusters``."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, status

from vrm.clusters import service
from vrm.clusters.schemas import ClusterCreate, ClusterRead, ClusterUpdate
from vrm.deps import CurrentUser, SessionDep, Writer
from vrm.errors import Conflict, Forbidden, NotFound, ValidationFailed, error_responses
from vrm.listing import ListDep, TextFilter
from vrm.models.enums import DrsMode
from vrm.schemas import Page

router = APIRouter(prefix="/clusters", tags=["clusters"])


@router.get("", responses=error_responses(ValidationFailed))
def list_clusters(
    session: SessionDep,
    _user: CurrentUser,
    params: ListDep,
    site_id: uuid.UUID | None = None,
    name: TextFilter = None,
    drs_mode: DrsMode | None = None,
    ha_enabled: bool | None = None,
) -> Page[ClusterRead]:
    """List clusters, filtered by site, name, DRS mode or HA."""
    filters = {"site_id": site_id, "name": name, "drs_mode": drs_mode, "ha_enabled": ha_enabled}
    items, total = service.list_clusters(session, params=params, filters=filters)
    return Page(items=[ClusterRead.model_validate(c) for c in items], total=total)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(Conflict, Forbidden, ValidationFailed),
)
def create_cluster(session: SessionDep, user: Writer, data: ClusterCreate) -> ClusterRead:
    """Create a cluster."""
    return ClusterRead.model_validate(service.create_cluster(session, actor=user, data=data))


@router.get("/{cluster_id}", responses=error_responses(NotFound))
def get_cluster(session: SessionDep, _user: CurrentUser, cluster_id: uuid.UUID) -> ClusterRead:
    """One cluster."""
    return ClusterRead.model_validate(service.get_cluster(session, cluster_id=cluster_id))


@router.patch(
    "/{cluster_id}", responses=error_responses(Conflict, Forbidden, NotFound, ValidationFailed)
)
def update_cluster(
    session: SessionDep, user: Writer, cluster_id: uuid.UUID, data: ClusterUpdate
) -> ClusterRead:
    """Change a cluster's name or settings."""
    cluster = service.update_cluster(session, actor=user, cluster_id=cluster_id, data=data)
    return ClusterRead.model_validate(cluster)


@router.delete(
    "/{cluster_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(Conflict, Forbidden, NotFound),
)
def delete_cluster(session: SessionDep, user: Writer, cluster_id: uuid.UUID) -> None:
    """Delete a cluster that has no hosts and no VMs."""
    service.delete_cluster(session, actor=user, cluster_id=cluster_id)
