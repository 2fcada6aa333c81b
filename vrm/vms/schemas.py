"""VM API schemas."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, Self
from uuid import UUID

from pydantic import Field, StringConstraints, model_validator

from vrm.models.enums import DiskBus, NicModel, VmState
from vrm.network.schemas import IpAddress
from vrm.schemas import CreateModel, Description, Name, ReadModel, UpdateModel
from vrm.tasks.schemas import TaskRead

MAC_PATTERN = r"^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$"
MAX_USER_DATA = 64 * 1024
# One OpenSSH public key line: type, base64 key, optional comment.
SshKey = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        max_length=16 * 1024,
        pattern=r"^(ssh-[a-z0-9-]+|ecdsa-sha2-[a-z0-9-]+|sk-[a-z0-9@.-]+)"
        r" [A-Za-z0-9+/=]+( [^\n\r]*)?$",
    ),
]
Vcpus = Annotated[int, Field(ge=1, le=128)]
MemoryMib = Annotated[int, Field(ge=64, le=4 * 1024 * 1024)]


class DiskCreate(CreateModel):
    """A disk: a new volume of ``size_mib`` (on ``datastore_id``, default the host's local
    datastore), an existing, unattached ``volume_id``, or a new volume made from the qcow2
    or raw image ``image_id`` (copied, or a ``linked`` clone over it, in the image's
    datastore) and grown to ``size_mib`` when that is larger than the image."""

    size_mib: int | None = Field(default=None, ge=1, le=64 * 1024 * 1024)
    datastore_id: UUID | None = None
    volume_id: UUID | None = None
    image_id: UUID | None = None
    clone: Literal["copy", "linked"] = Field(
        default="copy", description="with image_id: a full copy, or a linked clone"
    )
    bus: DiskBus = DiskBus.VIRTIO

    @model_validator(mode="after")
    def _new_or_existing(self) -> Self:
        if self.volume_id is not None and self.image_id is not None:
            raise ValueError("give volume_id or image_id, not both")
        if self.image_id is None and (self.size_mib is None) == (self.volume_id is None):
            raise ValueError(
                "give size_mib (a new volume), volume_id (an existing one) or image_id "
                "(a volume made from an image)"
            )
        if self.volume_id is not None and self.datastore_id is not None:
            raise ValueError("datastore_id goes with size_mib or image_id, not with volume_id")
        return self


class CdromCreate(CreateModel):
    """A CD-ROM drive, holding the ISO image ``image_id`` or nothing (an empty tray)."""

    image_id: UUID | None = None


class NicCreate(CreateModel):
    """A NIC on a port group; the MAC is assigned unless given."""

    port_group_id: UUID
    model: NicModel = NicModel.VIRTIO
    mac: str | None = Field(default=None, pattern=MAC_PATTERN)
    ips: list[IpAddress] = Field(
        default_factory=list,
        max_length=2,
        description="Addresses wanted from the port group's IP pools (one per IP version); "
        "the others are allocated automatically",
    )


class VmCreate(CreateModel):
    """A new VM; maxima default to the initial values (no hot-add headroom)."""

    name: Name
    description: Description = ""
    cluster_id: UUID
    host_id: UUID | None = None
    vcpus: Vcpus
    max_vcpus: Vcpus | None = None
    memory_mib: MemoryMib
    max_memory_mib: MemoryMib | None = None
    cpu_shares: int = Field(default=1024, ge=2, le=262144)
    cpu_reservation_mhz: int = Field(default=0, ge=0)
    cpu_limit_mhz: int = Field(default=0, ge=0, description="0 = unlimited")
    ha_enabled: bool = False
    boot_order: list[Literal["hd", "cdrom", "network"]] = Field(default=["hd"], min_length=1)
    disks: list[DiskCreate] = Field(default_factory=list, max_length=16)
    cdroms: list[CdromCreate] = Field(
        default_factory=list, max_length=3, description="IDE CD-ROM drives (hda, hdb, hdc)"
    )
    nics: list[NicCreate] = Field(default_factory=list, max_length=8)
    console_exclusive: bool = Field(
        default=False, description="one VNC viewer at a time; a second one is refused"
    )
    power_on: bool = False
    user_data: str | None = Field(
        default=None,
        max_length=MAX_USER_DATA,
        description="cloud-init user-data handed to the guest (with its addresses)",
    )
    ssh_keys: list[SshKey] = Field(default_factory=list, max_length=32)

    @model_validator(mode="after")
    def _maxima(self) -> Self:
        if self.max_vcpus is not None and self.max_vcpus < self.vcpus:
            raise ValueError("max_vcpus must be at least vcpus")
        if self.max_memory_mib is not None and self.max_memory_mib < self.memory_mib:
            raise ValueError("max_memory_mib must be at least memory_mib")
        return self


class VmUpdate(UpdateModel):
    """Settings that change nothing on the node: the description, HA, the console's
    exclusivity (it applies to viewers that connect from then on)."""

    description: Description | None = None
    ha_enabled: bool | None = None
    console_exclusive: bool | None = None


class DiskRead(ReadModel):
    """A disk of a VM."""

    id: UUID
    device: str
    bus: DiskBus
    volume_id: UUID


class CdromRead(ReadModel):
    """A CD-ROM drive of a VM and the image in it (None: empty)."""

    id: UUID
    device: str
    image_id: UUID | None


class NicRead(ReadModel):
    """A NIC of a VM."""

    id: UUID
    slot: int
    mac: str
    model: NicModel
    port_group_id: UUID
    vlan_id: int
    ips: list[str]


class VmRead(ReadModel):
    """A VM as the API shows it."""

    id: UUID
    uuid: UUID
    name: str
    description: str
    cluster_id: UUID
    host_id: UUID | None
    vcpus: int
    max_vcpus: int
    memory_mib: int
    max_memory_mib: int
    cpu_shares: int
    cpu_reservation_mhz: int
    cpu_limit_mhz: int
    state: VmState
    task_state: str | None
    ha_enabled: bool
    is_template: bool
    boot_order: list[str]
    disks: list[DiskRead] = Field(default_factory=list)
    cdroms: list[CdromRead] = Field(default_factory=list)
    nics: list[NicRead] = Field(default_factory=list)
    console_exclusive: bool
    ssh_keys: list[str]
    created_at: datetime
    updated_at: datetime


class VmAccepted(ReadModel):
    """The answer to a VM operation: the VM now, and the task doing the work."""

    vm: VmRead
    task: TaskRead


class StopBody(CreateModel):
    """How to stop: ``graceful`` asks the guest (ACPI) and waits ``timeout_s``, then powers
    off when ``force``; ``poweroff`` (or ``force`` with ``timeout_s`` 0) cuts the power at
    once, like pulling the plug."""

    mode: Literal["graceful", "poweroff"] = "graceful"
    force: bool = False
    timeout_s: float = Field(default=60.0, ge=0, le=3600)

    @model_validator(mode="after")
    def _modes(self) -> Self:
        if self.timeout_s == 0 and self.mode == "graceful" and not self.force:
            raise ValueError(
                'timeout_s 0 powers off at once: say so with {"mode": "poweroff"} or force'
            )
        return self

    @property
    def at_once(self) -> bool:
        """Power off without asking the guest."""
        return self.mode == "poweroff" or (self.force and self.timeout_s == 0)


class InsertMediaBody(CreateModel):
    """Put the ISO image ``image_id`` into a CD-ROM drive (default: the first one)."""

    image_id: UUID
    device: Annotated[str, Field(pattern=r"^hd[a-c]$")] | None = None


class EjectMediaBody(CreateModel):
    """Empty a CD-ROM drive (default: the first one)."""

    device: Annotated[str, Field(pattern=r"^hd[a-c]$")] | None = None


class ResizeBody(CreateModel):
    """New vCPU and/or memory figures (hot-add when running, within the maxima)."""

    vcpus: Vcpus | None = None
    memory_mib: MemoryMib | None = None
    max_vcpus: Vcpus | None = None
    max_memory_mib: MemoryMib | None = None

    @model_validator(mode="after")
    def _something(self) -> Self:
        if not self.model_fields_set:
            raise ValueError("name at least one of vcpus, memory_mib, max_vcpus, max_memory_mib")
        return self


class SnapshotBody(CreateModel):
    """Create, revert to or delete a named snapshot."""

    action: Literal["create", "revert", "delete"] = "create"
    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
    description: Description = ""


class DeleteParams(CreateModel):
    """Whether the VM's volumes go with it."""

    delete_volumes: bool = True


class AttachDiskBody(DiskCreate):
    """A disk to add: a new volume of ``size_mib`` or an existing ``volume_id``."""


class DetachDiskBody(CreateModel):
    """The disk to remove, by device name; its volume is kept unless asked otherwise."""

    device: Annotated[str, Field(pattern=r"^(vd|sd|hd)[a-z]$")]
    delete_volume: bool = False


class AttachNicBody(NicCreate):
    """A NIC to add on a port group."""


class DetachNicBody(CreateModel):
    """The NIC to remove, by MAC."""

    mac: str = Field(pattern=MAC_PATTERN)


class SetIpsBody(CreateModel):
    """New addresses for a NIC, by MAC: the ones given (one per IP version), the others
    allocated automatically from its port group's pools."""

    mac: str = Field(pattern=MAC_PATTERN)
    ips: list[IpAddress] = Field(default_factory=list, max_length=2)


class CloneBody(CreateModel):
    """A new VM from this VM or template: ``linked`` (qcow2 over its volumes) or ``full``."""

    name: Name
    mode: Literal["linked", "full"] = "linked"
    power_on: bool = False
