"""``/api/v1/sites``."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from vrm.deps import CurrentUser, SessionDep
from vrm.errors import NotFound, ValidationFailed, error_responses
from vrm.listing import ListDep, TextFilter
from vrm.schemas import Page
from vrm.sites import service
from vrm.sites.schemas import SiteRead

router = APIRouter(prefix="/sites", tags=["sites"])


@router.get("", responses=error_responses(ValidationFailed))
def list_sites(
    session: SessionDep, _user: CurrentUser, params: ListDep, name: TextFilter = None
) -> Page[SiteRead]:
    """List sites, filtered by name."""
    items, total = service.list_sites(session, params=params, filters={"name": name})
    return Page(items=[SiteRead.model_validate(s) for s in items], total=total)


@router.get("/{site_id}", responses=error_responses(NotFound))
def get_site(session: SessionDep, _user: CurrentUser, site_id: uuid.UUID) -> SiteRead:
    """One site."""
    return SiteRead.model_validate(service.get_site(session, site_id=site_id))
