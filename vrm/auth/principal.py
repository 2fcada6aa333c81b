"""Who is calling: the result of authentication, handed to services."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated user and what their role allows."""

    user_id: uuid.UUID
    name: str
    role: str
    permissions: frozenset[str]

    def can(self, permission: str) -> bool:
        """Whether the role grants ``permission`` (``read``, ``write`` or ``admin``)."""
        return permission in self.permissions


@dataclass(frozen=True, slots=True)
class Authenticated:
    """What a bearer token authenticates: the principal, and the token itself."""

    principal: Principal
    token_id: uuid.UUID
    expires_at: datetime | None
