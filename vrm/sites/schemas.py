"""Site API schemas."""

from __future__ import annotations

import uuid
from datetime import datetime

from vrm.schemas import ReadModel


class SiteRead(ReadModel):
    """A site as the API shows it."""

    id: uuid.UUID
    name: str
    description: str
    created_at: datetime
    updated_at: datetime
