"""SQL for users, roles and tokens."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import joinedload

from vrm.models import ApiToken, Role, User
from vrm.repository import Repository


class UserRepository(Repository[User]):
    """Users, loaded with their role."""

    model = User

    def by_name(self, name: str) -> User | None:
        """The user called ``name``, with role."""
        stmt = select(User).options(joinedload(User.role)).where(User.name == name)
        return self.session.scalars(stmt).first()


class RoleRepository(Repository[Role]):
    """Roles."""

    model = Role


class TokenRepository(Repository[ApiToken]):
    """Bearer tokens."""

    model = ApiToken
    sortable = ("created_at", "name")

    def active(self, token_hash: str, now: datetime) -> tuple[ApiToken, User] | None:
        """The unrevoked, unexpired token with this hash and its enabled user (role loaded)."""
        stmt = (
            select(ApiToken, User)
            .join(User, User.id == ApiToken.user_id)
            .options(joinedload(User.role))
            .where(ApiToken.token_hash == token_hash, ApiToken.revoked_at.is_(None))
            .where(User.enabled.is_(True))
            .where((ApiToken.expires_at.is_(None)) | (ApiToken.expires_at > now))
        )
        row = self.session.execute(stmt).first()
        return (row[0], row[1]) if row else None

    def note_uses(self, uses: Mapping[uuid.UUID, datetime]) -> None:
        """Set ``last_used_at`` of many tokens in one statement."""
        if uses:
            rows = [{"id": token_id, "last_used_at": at} for token_id, at in uses.items()]
            self.session.execute(update(ApiToken), rows)

    def revoke(self, token_hash: str, now: datetime) -> None:
        """Revoke the token with this hash, if it is still unrevoked."""
        self.session.execute(
            update(ApiToken)
            .where(ApiToken.token_hash == token_hash, ApiToken.revoked_at.is_(None))
            .values(revoked_at=now)
        )
