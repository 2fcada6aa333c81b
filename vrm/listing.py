"""Paging and sorting of collections: ``?limit=&offset=&sort=`` on every list."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Query

MAX_LIMIT = 1000
# Beyond any real collection, and inside a 64-bit integer on every backend.
MAX_OFFSET = 1_000_000_000

# A free-text query filter. Control characters are refused: PostgreSQL cannot even
# compare a string holding NUL.
TextFilter = Annotated[str | None, Query(max_length=255, pattern=r"^[^\x00-\x1f\x7f]*$")]


@dataclass(frozen=True, slots=True)
class ListParams:
    """What a client asked of a collection."""

    limit: int = 100
    offset: int = 0
    # Field names, each optionally prefixed with "-" for descending order.
    sort: tuple[str, ...] = ()


async def list_params(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size")] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Items to skip")] = 0,
    sort: Annotated[
        str | None,
        Query(
            max_length=200,
            pattern=r"^-?[a-z_]+(,-?[a-z_]+)*$",
            description="Comma-separated fields, '-' for descending: '-created_at,name'",
        ),
    ] = None,
) -> ListParams:
    """The paging dependency every list endpoint uses."""
    return ListParams(limit=limit, offset=offset, sort=tuple(sort.split(",")) if sort else ())


ListDep = Annotated[ListParams, Depends(list_params)]
