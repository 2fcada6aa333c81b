"""Small helpers every domain service shares."""

from __future__ import annotations

import uuid
from typing import Any, TypeVar

from pydantic import BaseModel

from vrm.errors import Conflict, NotFound, ValidationFailed
from vrm.models import Base
from vrm.repository import Repository

M = TypeVar("M", bound=Base)


def get_or_404(repo: Repository[M], ident: uuid.UUID, kind: str) -> M:
    """The object ``ident`` from ``repo``, or a 404 naming ``kind``."""
    obj = repo.get(ident)
    if obj is None:
        raise NotFound.of(kind, ident)
    return obj


def apply_update(obj: Base, data: BaseModel) -> dict[str, Any]:
    """Set the fields the client sent on ``obj``; return them (for the audit trail)."""
    changes = data.model_dump(exclude_unset=True)
    for field, value in changes.items():
        setattr(obj, field, value)
    return changes


def get_ref_or_422(repo: Repository[M], ident: uuid.UUID, kind: str, field: str) -> M:
    """The object a request body refers to in ``field``, or a 422 saying it does not exist."""
    obj = repo.get(ident)
    if obj is None:
        raise ValidationFailed(
            f"{field}: {kind} {ident} does not exist",
            code=f"{kind.replace(' ', '_')}_not_found",
            details={"field": field, "id": str(ident)},
        )
    return obj


def ensure_unique(repo: Repository[M], message: str, **filters: Any) -> None:
    """409 ``name_conflict`` when an object matching ``filters`` already exists."""
    if repo.get_by(**filters) is not None:
        raise Conflict(message, code="name_conflict")
