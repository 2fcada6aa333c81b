"""Schemas shared by every domain: the error body and list pages."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Generic, Self, TypeVar

from fastapi import Response
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

T = TypeVar("T")


class ErrorDetail(BaseModel):
    """The inside of an error body."""

    code: str = Field(examples=["vm_state_conflict"])
    message: str
    details: dict[str, Any] = Field(default_factory=dict)


class ErrorBody(BaseModel):
    """What every failing API call answers."""

    error: ErrorDetail


JSON = "application/json"


class Page(BaseModel, Generic[T]):
    """One page of a collection and the size of the whole filtered collection."""

    items: list[T]
    total: int


class ReadModel(BaseModel):
    """Base of every ``XRead`` schema: built from ORM objects."""

    model_config = ConfigDict(from_attributes=True)


def _no_control_chars(value: str) -> str:
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise ValueError("must not contain control characters")
    return value


# A display name: trimmed, 1-64 printable characters.
Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=64),
    AfterValidator(_no_control_chars),
]


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


# Free text: line breaks and tabs are fine, NUL is not (PostgreSQL cannot store it).
Description = Annotated[str, StringConstraints(max_length=255), AfterValidator(_no_nul)]


class CreateModel(BaseModel):
    """Base of ``XCreate``: unknown fields are an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid")


class UpdateModel(BaseModel):
    """Base of ``XUpdate``: every field optional; only the fields sent are changed."""

    model_config = ConfigDict(extra="forbid")
    # Fields that may be cleared with an explicit null; for the others null is an error.
    nullable: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="after")
    def _no_null_for_required(self) -> Self:
        for field in self.model_fields_set:
            if getattr(self, field) is None and field not in self.nullable:
                raise ValueError(f"{field} cannot be null")
        return self


def json_of(model: BaseModel, status_code: int = 200) -> Response:
    """A response serialized by pydantic once (a returned model is dumped and validated again)."""
    return Response(model.model_dump_json(), status_code=status_code, media_type=JSON)
