"""Images (install media, disk images, exported templates) and console tickets."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from vrm.models.base import Base, IdMixin, TimestampMixin, utcnow
from vrm.models.enums import ImageFormat, ImageSource, ImageState, str_enum


class Image(IdMixin, TimestampMixin, Base):
    """An ISO, qcow2 or raw file kept as a volume of a datastore, validated by a node."""

    __tablename__ = "images"
    __table_args__ = (
        UniqueConstraint("datastore_id", "name"),
        CheckConstraint("progress BETWEEN 0 AND 100", name="progress"),
        CheckConstraint("size_bytes >= 0 AND virtual_size_bytes >= 0", name="sizes"),
    )

    name: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(String(255), default="")
    format: Mapped[ImageFormat] = mapped_column(str_enum(ImageFormat))
    # A free-form hint of the guest OS ("debian12", "windows2022"), for people and the UI.
    os_hint: Mapped[str] = mapped_column(String(64), default="")
    datastore_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("datastores.id", ondelete="RESTRICT"), index=True
    )
    # The volume's name in the datastore's pool on every node that reaches it.
    volume_name: Mapped[str] = mapped_column(String(128))
    source: Mapped[ImageSource] = mapped_column(str_enum(ImageSource))
    # The URL or path it was imported from, or the template's id.
    source_ref: Mapped[str] = mapped_column(String(4096), default="")
    state: Mapped[ImageState] = mapped_column(str_enum(ImageState), default=ImageState.UPLOADING)
    progress: Mapped[int] = mapped_column(default=0)
    size_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    virtual_size_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    # What the client said it would be (checked on the node), and what it is.
    expected_sha256: Mapped[str | None] = mapped_column(String(64))
    sha256: Mapped[str | None] = mapped_column(String(64))
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)
    # The task that takes (or took) its data in.
    task_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("tasks.id", ondelete="SET NULL"))


class ConsoleTicket(IdMixin, Base):
    """A one-time pass to one console of one VM, for one user, for a few seconds."""

    __tablename__ = "console_tickets"

    # Only the hash is kept: a database reader cannot watch consoles.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    vm_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("vms.id", ondelete="CASCADE"), index=True)
    type: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    used_at: Mapped[datetime | None]
