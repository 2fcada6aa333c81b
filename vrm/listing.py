"""Paging and sorting of collections: ``?limit=&offset=&sort=`` on every list."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Query

MAX_LIMIT = 1000


@dataclass(frozen=True, slots=True)
class ListParams:
    """What a client asked of a collection."""

    limit: int = 100
    offset: int = 0
    # Field names, each optionally prefixed with "-" for descending order.
    sort: tuple[str, ...] = ()


def list_params(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size")] = 100,
    offset: Annotated[int, Query(ge=0, description="Items to skip")] = 0,
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
