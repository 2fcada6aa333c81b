"""SQL for sites."""

from __future__ import annotations

import uuid

from vrm.models import Site
from vrm.repository import Repository

# Seeded by the first migration.
DEFAULT_SITE_ID = uuid.UUID("00000000-0000-4000-8000-000000000001")


class SiteRepository(Repository[Site]):
    """Sites."""

    model = Site
    sortable = ("created_at", "updated_at", "name")
