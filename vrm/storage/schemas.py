"""Datastore and volume API schemas."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, Field, StringConstraints, ValidationInfo, field_validator

from vrm.models import Datastore
from vrm.models.enums import DatastoreType, ObjectState, VolumeFormat
from vrm.schemas import CreateModel, Description, Name, ReadModel, UpdateModel
from vrm.storage.sources import check_source


def _no_nul(value: str) -> str:
    # PostgreSQL cannot store NUL in text; refuse it here rather than fail at INSERT.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


Source = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=512),
    Field(description='For local_dir/shared_dir a directory, for nfs "server:/export"'),
]
SafeDescription = Annotated[Description, AfterValidator(_no_nul)]


class DatastoreCreate(CreateModel):
    """A new datastore; the site defaults to the installation's default site.

    Capacity and allocation are reported by the nodes, so they are not accepted here.
    """

    name: Name
    description: SafeDescription = ""
    site_id: uuid.UUID | None = None
    type: DatastoreType
    source: Source

    @field_validator("source")
    @classmethod
    def _source_suits_type(cls, value: str, info: ValidationInfo) -> str:
        kind = info.data.get("type")
        # Without a valid type there is nothing to check against; its own error is reported.
        return check_source(kind, value) if isinstance(kind, DatastoreType) else value


class AttachBody(CreateModel):
    """The host a shared datastore is attached to."""

    host_id: uuid.UUID


class DatastoreUpdate(UpdateModel):
    """Changes to a datastore's name or description (type and source are fixed)."""

    name: Name | None = None
    description: SafeDescription | None = None


class DatastoreRead(ReadModel):
    """A datastore as the API shows it, with the hosts that can reach it."""

    id: uuid.UUID
    site_id: uuid.UUID
    name: str
    description: str
    type: DatastoreType
    source: str
    state: ObjectState
    capacity_mib: int
    allocated_mib: int
    host_ids: list[uuid.UUID] = Field(default_factory=list)
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, datastore: Datastore, host_ids: list[uuid.UUID]) -> DatastoreRead:
        """The read model of ``datastore`` reachable from ``host_ids``."""
        return cls.model_validate(datastore).model_copy(update={"host_ids": host_ids})


class VolumeRead(ReadModel):
    """A volume as the API shows it."""

    id: uuid.UUID
    datastore_id: uuid.UUID
    name: str
    format: VolumeFormat
    capacity_mib: int
    allocation_mib: int
    backing_volume_id: uuid.UUID | None
    state: ObjectState
    created_at: datetime
    updated_at: datetime
