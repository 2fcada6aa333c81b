"""Image API schemas."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Self

from pydantic import Field, StringConstraints, model_validator

from cna_agent.protocol.images import Sha256
from vrm.models.enums import ImageFormat, ImageSource, ImageState
from vrm.schemas import CreateModel, Description, Name, ReadModel, UpdateModel
from vrm.tasks.schemas import TaskRead

OsHint = Annotated[str, StringConstraints(max_length=64, pattern=r"^[A-Za-z0-9_. +()-]*$")]


class ImageCreate(CreateModel):
    """A new image. Without ``url`` or ``path`` it waits for its data
    (``PUT /images/{id}/data``); with one of them a node fetches it at once."""

    name: Name
    description: Description = ""
    format: ImageFormat
    os_hint: OsHint = ""
    datastore_id: uuid.UUID | None = Field(
        default=None, description="default: the local datastore of the first normal host"
    )
    host_id: uuid.UUID | None = Field(
        default=None, description="the node that takes the data in (default: any that reaches)"
    )
    url: str | None = Field(default=None, pattern=r"^https?://[^\s]+$", max_length=2048)
    path: str | None = Field(
        default=None,
        pattern=r"^/[^\x00]*$",
        max_length=4096,
        description="a file already in one of the node's datastores",
    )
    sha256: Sha256 | None = Field(default=None, description="the data is refused if it differs")

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if self.url is not None and self.path is not None:
            raise ValueError("give url or path, not both")
        return self


class ImageUpdate(UpdateModel):
    """Changes to an image's name, description or OS hint (its data never changes)."""

    name: Name | None = None
    description: Description | None = None
    os_hint: OsHint | None = None


class ImageRead(ReadModel):
    """An image as the API shows it."""

    id: uuid.UUID
    name: str
    description: str
    format: ImageFormat
    os_hint: str
    datastore_id: uuid.UUID
    source: ImageSource
    source_ref: str
    state: ImageState
    progress: int
    size_bytes: int
    virtual_size_bytes: int
    sha256: str | None
    expected_sha256: str | None
    error_code: str | None
    error_message: str | None
    task_id: uuid.UUID | None
    created_at: datetime
    updated_at: datetime


class ImageAccepted(ReadModel):
    """An image and the task taking its data in (none while it waits for an upload)."""

    image: ImageRead
    task: TaskRead | None = None


class ExportBody(CreateModel):
    """A template's first disk copied as a qcow2 image into a datastore."""

    name: Name
    description: Description = ""
    os_hint: OsHint = ""
    datastore_id: uuid.UUID | None = Field(default=None, description="default: the disk's own")
