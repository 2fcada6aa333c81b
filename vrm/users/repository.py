"""SQL for managing users: always loaded with their role."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from vrm.auth.repository import UserRepository as AuthUserRepository
from vrm.listing import ListParams
from vrm.models import Role, User


class UserRepository(AuthUserRepository):
    """Users with their role loaded, and the queries the last-admin rule needs."""

    sortable = ("created_at", "updated_at", "name", "enabled", "last_login_at")

    def get(self, ident: uuid.UUID) -> User | None:
        """The user ``ident`` with role."""
        stmt = select(User).options(joinedload(User.role)).where(User.id == ident)
        return self.session.scalars(stmt).first()

    def page(
        self, params: ListParams, filters: Mapping[str, Any] | None = None
    ) -> tuple[Sequence[User], int]:
        """One page of users, roles loaded."""
        items, total = super().page(params, filters)
        if items:
            # Loads the roles onto the users already in the session.
            ids = [u.id for u in items]
            self.session.scalars(
                select(User).options(joinedload(User.role)).where(User.id.in_(ids))
            ).all()
        return items, total

    def enabled_admin_ids(self) -> list[uuid.UUID]:
        """Lock and list the enabled users whose role grants ``admin``."""
        admin_roles = [r.id for r in self.session.scalars(select(Role)) if "admin" in r.permissions]
        stmt = (
            select(User.id)
            .where(User.enabled.is_(True), User.role_id.in_(admin_roles))
            .order_by(User.id)
            .with_for_update()
        )
        return list(self.session.scalars(stmt))
