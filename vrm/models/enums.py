"""Enumerations stored in the database, as strings (no native enum types).

Stored as plain VARCHAR so that a new member never needs a schema change on
either backend; the application validates values on the way in.
"""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import Enum


def str_enum(enum_cls: type[StrEnum]) -> Enum:
    """The column type for a ``StrEnum``: its values as VARCHAR(32)."""
    return Enum(
        enum_cls,
        native_enum=False,
        create_constraint=False,
        length=32,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )


class HostState(StrEnum):
    """Life of a compute node as VRM sees it."""

    CONNECTING = "connecting"
    NORMAL = "normal"
    FAULT = "fault"
    MAINTAINING = "maintaining"
    MAINTENANCE = "maintenance"


class VmState(StrEnum):
    """Life of a VM."""

    CREATING = "creating"
    STOPPED = "stopped"
    STARTING = "starting"
    RUNNING = "running"
    PAUSING = "pausing"
    PAUSED = "paused"
    STOPPING = "stopping"
    REBOOTING = "rebooting"
    MIGRATING = "migrating"
    DELETING = "deleting"
    FAULT = "fault"
    UNKNOWN = "unknown"


class TaskState(StrEnum):
    """Life of a task."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


class DrsMode(StrEnum):
    """How the cluster balances load."""

    OFF = "off"
    MANUAL = "manual"
    AUTOMATIC = "automatic"


class PlacementPolicy(StrEnum):
    """Where new VMs go: spread over hosts or packed onto few."""

    SPREAD = "spread"
    PACK = "pack"


class DatastoreType(StrEnum):
    """Kind of libvirt storage pool behind a datastore."""

    LOCAL_DIR = "local_dir"
    SHARED_DIR = "shared_dir"
    NFS = "nfs"


class ObjectState(StrEnum):
    """State of an object that nodes realize (datastores, volumes)."""

    CREATING = "creating"
    AVAILABLE = "available"
    IN_USE = "in_use"
    ERROR = "error"
    DELETING = "deleting"


class VolumeFormat(StrEnum):
    """Disk image format."""

    QCOW2 = "qcow2"
    RAW = "raw"


class ImageFormat(StrEnum):
    """What an image holds: install media or a disk image."""

    ISO = "iso"
    QCOW2 = "qcow2"
    RAW = "raw"


class ImageState(StrEnum):
    """Life of an image: its data arriving, usable, or refused (with the reason)."""

    UPLOADING = "uploading"
    READY = "ready"
    FAILED = "failed"
    DELETING = "deleting"


class ImageSource(StrEnum):
    """Where an image's data came from."""

    UPLOAD = "upload"  # PUT /images/{id}/data, relayed to a node
    URL = "url"  # fetched by a node
    PATH = "path"  # a file already on a node's datastore
    TEMPLATE = "template"  # exported from a template's disk


class DiskBus(StrEnum):
    """Disk device model: paravirtual or emulated."""

    VIRTIO = "virtio"
    SCSI = "scsi"
    SATA = "sata"
    IDE = "ide"


class NicModel(StrEnum):
    """NIC device model: paravirtual or emulated."""

    VIRTIO = "virtio"
    E1000 = "e1000"
    RTL8139 = "rtl8139"


class Severity(StrEnum):
    """Severity of events and alarms."""

    INFO = "info"
    MINOR = "minor"
    MAJOR = "major"
    CRITICAL = "critical"


class AlarmState(StrEnum):
    """Life of an alarm."""

    ACTIVE = "active"
    ACKNOWLEDGED = "acknowledged"
    CLEARED = "cleared"


class TokenKind(StrEnum):
    """Bearer tokens: from a login (expire) or for scripts (long-lived)."""

    LOGIN = "login"
    API = "api"


class RuleKind(StrEnum):
    """What a placement rule asks."""

    AFFINITY = "affinity"  # the VMs on one host
    ANTI_AFFINITY = "anti_affinity"  # the VMs on different hosts
    HOST_MUST = "host_must"  # the VMs only on the rule's hosts
    HOST_MUST_NOT = "host_must_not"  # the VMs never on the rule's hosts
