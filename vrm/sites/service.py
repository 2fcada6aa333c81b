"""Reading sites (they are created by the first migration for now)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence

from sqlalchemy.orm import Session

from vrm.crud import get_or_404
from vrm.listing import ListParams
from vrm.models import Site
from vrm.sites.repository import SiteRepository

KIND = "site"


def list_sites(
    session: Session, *, params: ListParams, filters: Mapping[str, object]
) -> tuple[Sequence[Site], int]:
    """A page of sites."""
    return SiteRepository(session).page(params, filters)


def get_site(session: Session, *, site_id: uuid.UUID) -> Site:
    """One site, or 404."""
    return get_or_404(SiteRepository(session), site_id, KIND)
