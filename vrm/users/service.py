"""User management rules: at least one enabled admin always remains; nobody deletes themself."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence

from sqlalchemy.orm import Session

from vrm.audit.service import record
from vrm.auth import security
from vrm.auth import service as auth_service
from vrm.auth.principal import Principal
from vrm.auth.repository import RoleRepository
from vrm.crud import get_or_404
from vrm.errors import Conflict, ValidationFailed
from vrm.listing import ListParams
from vrm.models import Role, User
from vrm.users.repository import UserRepository
from vrm.users.schemas import UserCreate, UserUpdate

KIND = "user"
ADMIN_PERMISSION = "admin"


def _role(session: Session, name: str) -> Role:
    role = RoleRepository(session).get_by(name=name)
    if role is None:
        raise ValidationFailed(f"no role named {name!r}", code="unknown_role")
    return role


def _is_admin(role: Role) -> bool:
    return ADMIN_PERMISSION in role.permissions


def _keep_an_admin(repo: UserRepository, user: User, doing: str) -> None:
    """409 ``last_admin`` when ``user`` is the only enabled admin left."""
    if repo.enabled_admin_ids() == [user.id]:
        raise Conflict(
            f"cannot {doing} {user.name!r}: it is the last enabled admin",
            code="last_admin",
            details={"user_id": str(user.id)},
        )


def list_users(
    session: Session, *, params: ListParams, filters: Mapping[str, object], role: str | None
) -> tuple[Sequence[User], int]:
    """A page of users, optionally only those with the role called ``role``."""
    if role is not None:
        filters = {**filters, "role_id": _role(session, role).id}
    return UserRepository(session).page(params, filters)


def get_user(session: Session, *, user_id: uuid.UUID) -> User:
    """One user with role, or 404."""
    return get_or_404(UserRepository(session), user_id, KIND)


def create_user(session: Session, *, actor: Principal, data: UserCreate) -> User:
    """Create an enabled user; 409 ``user_exists`` when the name is taken."""
    created = auth_service.create_user(
        session, name=data.name, password=data.password, role=data.role
    )
    record(session, actor=actor, action="user.create", target_type=KIND, target_id=created.id)
    return get_user(session, user_id=created.id)


def update_user(
    session: Session, *, actor: Principal, user_id: uuid.UUID, data: UserUpdate
) -> User:
    """Change a user's role, enabled flag or password, keeping one enabled admin."""
    callers_changed(session)
    repo = UserRepository(session)
    user = get_or_404(repo, user_id, KIND)
    role = _role(session, data.role) if data.role is not None else user.role
    enabled = user.enabled if data.enabled is None else data.enabled
    if user.enabled and _is_admin(user.role) and not (enabled and _is_admin(role)):
        _keep_an_admin(repo, user, "disable or demote")
    user.role, user.enabled = role, enabled
    if data.password is not None:
        user.password_hash = security.hash_password(data.password)
    repo.flush(conflict=f"user {user.name!r} changed meanwhile")
    details = data.model_dump(exclude_unset=True, exclude={"password"})
    if data.password is not None:
        details["password_changed"] = True
    record(
        session,
        actor=actor,
        action="user.update",
        target_type=KIND,
        target_id=user.id,
        details=details,
    )
    return user


def delete_user(session: Session, *, actor: Principal, user_id: uuid.UUID) -> None:
    """Delete a user other than the caller, keeping one enabled admin."""
    callers_changed(session)
    repo = UserRepository(session)
    user = get_or_404(repo, user_id, KIND)
    if user.id == actor.user_id:
        raise Conflict("you cannot delete your own user", code="cannot_delete_self")
    if user.enabled and _is_admin(user.role):
        _keep_an_admin(repo, user, "delete")
    repo.delete(user, conflict=f"user {user.name!r} is still referenced")
    record(session, actor=actor, action="user.delete", target_type=KIND, target_id=user_id)


def callers_changed(session: Session) -> None:
    """Once this transaction commits, tokens are checked again (``vrm.auth.cache``)."""
    session.info["callers_changed"] = True
