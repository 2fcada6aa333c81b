"""Server-side tables: search, filters, sort and page, all in the URL (bookmarkable).

A page handler describes its table (``TableSpec``), reads the request into a
``TableState`` with ``TableSpec.read`` and hands the state to the repository (its
``ListParams`` and filters) and to the template (links for sorting and paging). Values a
person typed into the URL that make no sense are dropped, never an error page.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from fastapi import Request

from vrm.listing import ListParams
from vrm.repository import Contains

PAGE_SIZES = (25, 50, 100)
MAX_PAGE = 100_000
MAX_SEARCH = 100


@dataclass(frozen=True, slots=True)
class TableSpec:
    """What a table allows: sortable columns, filters (with their valid values), search."""

    sortable: tuple[str, ...]
    default_sort: str
    # filter name -> the values it may take (None: a UUID)
    filters: Mapping[str, frozenset[str] | None] = field(default_factory=dict)
    # the column the search box looks in, if the table has one
    search: str | None = "name"
    page_size: int = 50

    def read(self, request: Request) -> TableState:
        """The table's state from the query string; nonsense is dropped."""
        query = request.query_params
        filters: dict[str, str] = {}
        for name, allowed in self.filters.items():
            value = query.get(name, "")
            if value and (_is_uuid(value) if allowed is None else value in allowed):
                filters[name] = value
        sort = query.get("sort", "")
        if sort.lstrip("-") not in self.sortable:
            sort = self.default_sort
        size = _int(query.get("per_page"), self.page_size)
        return TableState(
            path=request.url.path,
            q=_printable(query.get("q", "")[:MAX_SEARCH]).strip() if self.search else "",
            filters=filters,
            sort=sort,
            page=min(max(_int(query.get("page"), 1), 1), MAX_PAGE),
            per_page=size if size in PAGE_SIZES else self.page_size,
            search_column=self.search,
            uuid_filters=frozenset(n for n, allowed in self.filters.items() if allowed is None),
        )


@dataclass(frozen=True, slots=True)
class TableState:
    """What one table shows now."""

    path: str
    q: str
    filters: dict[str, str]
    sort: str
    page: int
    per_page: int
    search_column: str | None
    # The filters whose values are ids (the repository compares them as UUIDs).
    uuid_filters: frozenset[str] = frozenset()

    @property
    def params(self) -> ListParams:
        """The repository's paging and sorting."""
        return ListParams(
            limit=self.per_page, offset=(self.page - 1) * self.per_page, sort=(self.sort,)
        )

    def where(self, **converted: Any) -> dict[str, Any]:
        """The repository's filters: the chosen ones (ids as UUIDs; ``converted`` replaces
        raw values) and the search box as a ``Contains`` on its column."""
        chosen: dict[str, Any] = {
            name: uuid.UUID(value) if name in self.uuid_filters else value
            for name, value in self.filters.items()
        }
        chosen.update(converted)
        if self.q and self.search_column:
            chosen[self.search_column] = Contains(self.q)
        return chosen

    def url(self, **changes: Any) -> str:
        """This table's URL with some of its state changed (None drops a value)."""
        values: dict[str, Any] = {
            "q": self.q,
            **self.filters,
            "sort": self.sort,
            "page": self.page,
            "per_page": self.per_page,
        }
        values.update(changes)
        kept = {key: value for key, value in values.items() if value not in (None, "")}
        return f"{self.path}?{urlencode(kept)}" if kept else self.path

    def sort_url(self, column: str) -> str:
        """The link of a column's header: sort by it, or reverse it if it is the sort."""
        reverse = self.sort == column
        return self.url(sort=f"-{column}" if reverse else column, page=1)

    def aria_sort(self, column: str) -> str:
        """``ascending``/``descending`` for the sorted column, ``none`` for the others."""
        if self.sort == column:
            return "ascending"
        return "descending" if self.sort == f"-{column}" else "none"

    def pages(self, total: int) -> int:
        """How many pages ``total`` rows make (at least one)."""
        return max(1, -(-total // self.per_page))


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default


def _printable(text: str) -> str:
    """``text`` without control characters (PostgreSQL cannot even compare NUL)."""
    return "".join(ch for ch in text if ch.isprintable())


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True
