"""``/api/v1/users``: administrators manage users; everyone may read their own."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, status

from vrm.deps import Admin, CurrentUser, SessionDep
from vrm.errors import Conflict, Forbidden, NotFound, ValidationFailed, error_responses
from vrm.listing import ListDep, TextFilter
from vrm.schemas import Page
from vrm.users import service
from vrm.users.schemas import UserCreate, UserRead, UserUpdate

router = APIRouter(prefix="/users", tags=["users"])


@router.get("", responses=error_responses(Forbidden, ValidationFailed))
def list_users(
    session: SessionDep,
    _admin: Admin,
    params: ListDep,
    name: TextFilter = None,
    role: TextFilter = None,
    enabled: bool | None = None,
) -> Page[UserRead]:
    """List users, filtered by name, role name or enabled flag."""
    items, total = service.list_users(
        session, params=params, filters={"name": name, "enabled": enabled}, role=role
    )
    return Page(items=[UserRead.model_validate(u) for u in items], total=total)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(Conflict, Forbidden, ValidationFailed),
)
def create_user(session: SessionDep, admin: Admin, data: UserCreate) -> UserRead:
    """Create a user with a role (admin, operator or viewer)."""
    return UserRead.model_validate(service.create_user(session, actor=admin, data=data))


# Registered before /{user_id}, which would otherwise take "me" for a (malformed) id.
@router.get("/me", responses=error_responses(NotFound))
def get_me(session: SessionDep, user: CurrentUser) -> UserRead:
    """The caller's own user."""
    return UserRead.model_validate(service.get_user(session, user_id=user.user_id))


@router.get("/{user_id}", responses=error_responses(Forbidden, NotFound))
def get_user(session: SessionDep, _admin: Admin, user_id: uuid.UUID) -> UserRead:
    """One user."""
    return UserRead.model_validate(service.get_user(session, user_id=user_id))


@router.patch(
    "/{user_id}", responses=error_responses(Conflict, Forbidden, NotFound, ValidationFailed)
)
def update_user(
    session: SessionDep, admin: Admin, user_id: uuid.UUID, data: UserUpdate
) -> UserRead:
    """Change a user's role, enabled flag or password; one enabled admin always remains."""
    user = service.update_user(session, actor=admin, user_id=user_id, data=data)
    return UserRead.model_validate(user)


@router.delete(
    "/{user_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(Conflict, Forbidden, NotFound),
)
def delete_user(session: SessionDep, admin: Admin, user_id: uuid.UUID) -> None:
    """Delete another user; the last enabled admin cannot be deleted."""
    service.delete_user(session, actor=admin, user_id=user_id)
