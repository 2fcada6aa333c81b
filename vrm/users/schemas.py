"""User management API schemas; a password hash never leaves VRM."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, StringConstraints

from vrm.models import Role
from vrm.schemas import CreateModel, ReadModel, UpdateModel

UserName = Annotated[
    str,
    StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._@-]*$"),
    Field(description="Letters, digits and . _ @ - (starting with a letter or digit)"),
]
Password = Annotated[str, StringConstraints(min_length=8, max_length=1024)]
RoleName = Annotated[
    str,
    StringConstraints(min_length=1, max_length=32, pattern=r"^[^\x00-\x1f\x7f]*$"),
    Field(description="admin, operator or viewer", examples=["operator"]),
]


def _role_name(value: Any) -> Any:
    return value.name if isinstance(value, Role) else value


class UserCreate(CreateModel):
    """A new, enabled user."""

    name: UserName
    password: Password
    role: RoleName


class UserUpdate(UpdateModel):
    """Changes to a user's role, enabled flag or password."""

    role: RoleName | None = None
    enabled: bool | None = None
    password: Password | None = None


class UserRead(ReadModel):
    """A user as the API shows it."""

    id: uuid.UUID
    name: str
    role: Annotated[str, BeforeValidator(_role_name)]
    enabled: bool
    last_login_at: datetime | None
    created_at: datetime
    updated_at: datetime
