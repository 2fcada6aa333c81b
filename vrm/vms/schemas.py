"""VM API schemas."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, Self
from uuid import UUID

from pydantic import Field, StringConstraints, model_validator

from vrm.models.enums import DiskBus, NicModel, VmState
from vrm.network.schemas import IpAddress
from vrm.schemas import CreateModel, Description, Name, ReadModel
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
    datastore) or an existing, unattached ``volume_id``."""

    size_mib: int | None = Field(default=None, ge=1, le=64 * 1024 * 1024)
    datastore_id: UUID | None = None
    volume_id: UUID | None = None
    bus: DiskBus = DiskBus.VIRTIO

    @model_validator(mode="after")
    def _new_or_existing(self) -> Self:
        if (self.size_mib is None) == (self.volume_id is None):
            raise ValueError("give either size_mib (a new volume) or volume_id (an existing one)")
        if self.volume_id is not None and self.datastore_id is not None:
            raise ValueError("datastore_id goes with size_mib, not with volume_id")
        return self


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
    nics: list[NicCreate] = Field(default_factory=list, max_length=8)
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


class DiskRead(ReadModel):
    """A disk of a VM."""

    id: UUID
    device: str
    bus: DiskBus
    volume_id: UUID


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
    nics: list[NicRead] = Field(default_factory=list)
    ssh_keys: list[str]
    created_at: datetime
    updated_at: datetime


class VmAccepted(ReadModel):
    """The answer to a VM operation: the VM now, and the task doing the work."""

    vm: VmRead
    task: TaskRead


class StopBody(CreateModel):
    """``force``: destroy when the guest ignores the ACPI request within ``timeout_s``."""

    force: bool = False
    timeout_s: float = Field(default=60.0, gt=0, le=3600)


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
