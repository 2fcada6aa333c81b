"""Datastores (libvirt storage pools) and the volumes in them."""

from __future__ import annotations

import uuid

from sqlalchemy import CheckConstraint, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from vrm.models.base import Base, IdMixin, TimestampMixin
from vrm.models.enums import DatastoreType, ObjectState, VolumeFormat, str_enum


class Datastore(IdMixin, TimestampMixin, Base):
    """A storage pool: local to one host, or shared by several."""

    __tablename__ = "datastores"
    __table_args__ = (
        UniqueConstraint("site_id", "name"),
        CheckConstraint("capacity_mib >= 0 AND allocated_mib >= 0", name="sizes"),
    )

    site_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sites.id", ondelete="RESTRICT"))
    name: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(String(255), default="")
    type: Mapped[DatastoreType] = mapped_column(str_enum(DatastoreType))
    # For local_dir/shared_dir: the directory on the node; for nfs: "server:/export".
    source: Mapped[str] = mapped_column(String(512), default="")
    state: Mapped[ObjectState] = mapped_column(str_enum(ObjectState), default=ObjectState.AVAILABLE)
    capacity_mib: Mapped[int] = mapped_column(default=0)
    allocated_mib: Mapped[int] = mapped_column(default=0)


class HostDatastore(Base):
    """A host that can reach a datastore, and the pool name it uses there."""

    __tablename__ = "host_datastores"

    host_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("hosts.id", ondelete="CASCADE"), primary_key=True
    )
    datastore_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("datastores.id", ondelete="CASCADE"), primary_key=True
    )
    pool_name: Mapped[str] = mapped_column(String(64))
    mounted: Mapped[bool] = mapped_column(default=True)


class Volume(IdMixin, TimestampMixin, Base):
    """A disk image in a datastore; a linked clone names its backing volume."""

    __tablename__ = "volumes"
    __table_args__ = (
        UniqueConstraint("datastore_id", "name"),
        CheckConstraint("capacity_mib > 0 AND allocation_mib >= 0", name="sizes"),
    )

    datastore_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("datastores.id", ondelete="RESTRICT")
    )
    name: Mapped[str] = mapped_column(String(128))
    format: Mapped[VolumeFormat] = mapped_column(str_enum(VolumeFormat), default=VolumeFormat.QCOW2)
    capacity_mib: Mapped[int]
    allocation_mib: Mapped[int] = mapped_column(default=0)
    backing_volume_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("volumes.id", ondelete="RESTRICT")
    )
    state: Mapped[ObjectState] = mapped_column(str_enum(ObjectState), default=ObjectState.CREATING)
    # A linked clone of an image (the image's file is its backing file).
    base_image_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("images.id", ondelete="RESTRICT"), index=True
    )
