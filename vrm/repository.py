"""The generic repository: every SQL statement of a domain goes through one of these."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar

from sqlalchemy import Result, RowMapping, Select, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vrm.errors import Conflict, ValidationFailed
from vrm.listing import ListParams
from vrm.models import Base

M = TypeVar("M", bound=Base)


class Repository(Generic[M]):
    """CRUD and listing of one model; subclasses add their own queries."""

    model: ClassVar[type[Base]]
    sortable: ClassVar[tuple[str, ...]] = ("created_at", "name")
    default_sort: ClassVar[tuple[str, ...]] = ("created_at",)

    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, ident: uuid.UUID) -> M | None:
        """The object with primary key ``ident``, if any."""
        obj: M | None = self.session.get(self.model, ident)  # type: ignore[assignment]
        return obj

    def get_by(self, **filters: Any) -> M | None:
        """The one object matching ``filters`` exactly, if any."""
        stmt = select(self.model).filter_by(**filters)
        obj: M | None = self.session.scalars(stmt).first()  # type: ignore[assignment]
        return obj

    def page(
        self, params: ListParams, filters: Mapping[str, Any] | None = None
    ) -> tuple[Sequence[M], int]:
        """One page of objects matching ``filters`` (None values ignored) and the total."""
        stmt, total = self._paged(select(self.model), params, filters)
        return self.session.scalars(stmt).all(), total

    def page_rows(
        self, columns: Sequence[Any], params: ListParams, filters: Mapping[str, Any] | None = None
    ) -> tuple[Sequence[RowMapping], int]:
        """Like ``page``, but only ``columns`` of each object, as plain rows (no ORM objects).

        The page's ids are found first (in an index on the sort order, ``OFFSET`` skips
        index entries, not rows), then only those rows are read.
        """
        key = self.model.id  # type: ignore[attr-defined]
        ids, total = self._paged(select(key), params, filters)
        order = self._order_by(params.sort or self.default_sort)
        stmt = select(*columns).where(key.in_(ids.scalar_subquery())).order_by(*order)
        return self.session.execute(stmt).mappings().all(), total

    def _paged(
        self, stmt: Select[Any], params: ListParams, filters: Mapping[str, Any] | None
    ) -> tuple[Select[Any], int]:
        """``stmt`` filtered, sorted and cut to the page; and how many match in all."""
        counted: Select[Any] = select(func.count()).select_from(self.model)
        for field, value in (filters or {}).items():
            if value is not None:
                condition = _condition(getattr(self.model, field), value)
                stmt, counted = stmt.where(condition), counted.where(condition)
        total = self.session.scalar(counted) or 0
        stmt = stmt.order_by(*self._order_by(params.sort or self.default_sort))
        return stmt.limit(params.limit).offset(params.offset), total

    def count(self, **filters: Any) -> int:
        """How many objects match ``filters``."""
        stmt = select(func.count()).select_from(self.model).filter_by(**filters)
        return self.session.scalar(stmt) or 0

    def add(self, obj: M, *, conflict: str) -> M:
        """Insert ``obj``; a uniqueness violation becomes a 409 with message ``conflict``."""
        self.session.add(obj)
        self.flush(conflict=conflict)
        return obj

    def delete(self, obj: M, *, conflict: str) -> None:
        """Delete ``obj``; a foreign key still pointing at it becomes a 409."""
        self.session.delete(obj)
        self.flush(conflict=conflict)

    def flush(self, *, conflict: str) -> None:
        """Write pending changes in a savepoint; constraint violations become 409s."""
        try:
            with self.session.begin_nested():
                self.session.flush()
        except IntegrityError as exc:
            raise Conflict(conflict, code="conflict", details={"reason": _reason(exc)}) from exc

    def _order_by(self, fields: Sequence[str]) -> list[Any]:
        order = []
        for field in fields:
            name = field.lstrip("-")
            if name not in self.sortable:
                raise ValidationFailed(
                    f"cannot sort by {name!r}",
                    code="invalid_sort",
                    details={"field": name, "allowed": list(self.sortable)},
                )
            column = getattr(self.model, name)
            order.append(column.desc() if field.startswith("-") else column.asc())
        # A unique tie-breaker keeps pages stable when sort values repeat.
        order.append(self.model.id.asc())  # type: ignore[attr-defined]
        return order


@dataclass(frozen=True, slots=True)
class Contains:
    """A filter value: the field holds this text anywhere, in any case (a search box)."""

    text: str


def _condition(column: Any, value: Any) -> Any:
    """The condition a filter value puts on its column."""
    if isinstance(value, Contains):
        escaped = value.text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return column.ilike(f"%{escaped}%", escape="\\")
    return column == value


def _reason(exc: IntegrityError) -> str:
    """The first line of the database's complaint, without SQL or parameters."""
    return str(exc.orig).strip().splitlines()[0][:200] if exc.orig else "integrity error"


def changed_one(result: Result[Any]) -> bool:
    """Whether an UPDATE or DELETE touched exactly one row (a compare-and-swap won)."""
    return bool(getattr(result, "rowcount", 0) == 1)
