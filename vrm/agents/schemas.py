"""Enrollment token API schemas (the agent wire format lives in ``cna_agent.protocol``)."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import Field

from vrm.schemas import CreateModel, ReadModel


class EnrollmentTokenCreate(CreateModel):
    """A one-time token for one new host of ``cluster_id``."""

    cluster_id: uuid.UUID
    ttl_s: int | None = Field(
        default=None, ge=60, le=30 * 24 * 3600, description="lifetime; VRM_ENROLLMENT_TOKEN_TTL_S"
    )


class EnrollmentTokenRead(ReadModel):
    """An enrollment token, without its secret."""

    id: uuid.UUID
    cluster_id: uuid.UUID
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None
    host_id: uuid.UUID | None


class EnrollmentTokenIssued(EnrollmentTokenRead):
    """A new enrollment token; ``token`` is shown only in this answer."""

    token: str
