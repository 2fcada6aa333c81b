"""The wire format of images: install media (ISO) and disk images (qcow2, raw) that a
node takes into one of its pools, validated there before anything may use them."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Self

from pydantic import Field, StringConstraints, model_validator

from cna_agent.protocol import ObjectName, Wire

SHA256 = r"^[0-9a-fA-F]{64}$"
Sha256 = Annotated[str, StringConstraints(to_lower=True, pattern=SHA256)]

# Headers and query parameters of ``PUT /v1/pools/{pool}/images/{name}/data``.
UPLOAD_FORMAT = "format"
UPLOAD_SHA256 = "sha256"
UPLOAD_MAX_BYTES = "max_bytes"


class ImageFormat(StrEnum):
    """What an image file holds."""

    ISO = "iso"  # ISO 9660 install media, attached as a CD-ROM
    QCOW2 = "qcow2"
    RAW = "raw"


class VolumeRef(Wire):
    """A volume of one of the node's pools."""

    pool: ObjectName
    volume: ObjectName


class ImageImport(Wire):
    """Take an image into a pool from exactly one source: a URL the node fetches, a file
    already in one of the node's pools (``path``), or a copy of a volume (a template's
    disk; converted to ``format``, its backing chain flattened)."""

    format: ImageFormat
    url: str | None = Field(default=None, pattern=r"^https?://", max_length=2048)
    path: str | None = Field(default=None, pattern=r"^/[^\x00]*$", max_length=4096)
    volume: VolumeRef | None = None
    sha256: Sha256 | None = Field(default=None, description="refused when the content differs")
    max_bytes: int = Field(ge=1, description="refused when the image is larger")

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if sum(s is not None for s in (self.url, self.path, self.volume)) != 1:
            raise ValueError("give exactly one of url, path and volume")
        return self


class ImageReport(Wire):
    """An image as the node took it: validated, with its size and checksum."""

    name: str
    pool: str
    path: str
    format: ImageFormat
    size_bytes: int = Field(description="the file's size")
    virtual_size_bytes: int = Field(description="the disk a VM sees (the file size for ISO/raw)")
    sha256: str
