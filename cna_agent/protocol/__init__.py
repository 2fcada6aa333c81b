"""The wire format between VRM and CNA agents (both directions), as pydantic models.

This module is the contract: the agent's API and VRM's agent client both use it.
It imports nothing from ``vrm`` and nothing from libvirt.
"""

from __future__ import annotations

import ipaddress
import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

MAC_PATTERN = r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$"
# libvirt object names we create: no slashes, no spaces, no shell or XML surprises.
OBJECT_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
ObjectName = Annotated[str, StringConstraints(pattern=OBJECT_NAME)]
IfaceName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$")]
Mac = Annotated[str, StringConstraints(to_lower=True, pattern=MAC_PATTERN)]


def _canonical_ip(value: str) -> str:
    return str(ipaddress.ip_address(value))


IpText = Annotated[str, StringConstraints(max_length=45), AfterValidator(_canonical_ip)]


class Wire(BaseModel):
    """Base of every message: unknown fields are refused, so typos fail loudly."""

    model_config = ConfigDict(extra="forbid")


# --- errors -------------------------------------------------------------------------


class ErrorDetail(Wire):
    """The inside of an error body (same shape as VRM's public API)."""

    code: str
    message: str
    details: dict[str, Any] = Field(default_factory=dict)


class ErrorBody(Wire):
    """What a failing agent call answers."""

    error: ErrorDetail


# --- host facts and usage -----------------------------------------------------------


class NumaCell(Wire):
    """One NUMA node of the host."""

    id: int
    cpus: list[int]
    memory_mib: int


class HostFacts(Wire):
    """What the node is: reported at enrollment and whenever it changes."""

    hostname: str
    arch: str
    cpu_model: str
    cpu_vendor: str = ""
    cpu_sockets: int
    cpu_cores: int = Field(description="cores per socket")
    cpu_threads: int = Field(description="threads per core")
    cpus: int = Field(description="logical CPUs")
    cpu_mhz: int
    memory_mib: int
    numa_cells: list[NumaCell] = Field(default_factory=list)
    hypervisor: str = Field(description="e.g. 'QEMU 7.2.0'")
    libvirt_version: str
    domain_type: Literal["kvm", "qemu", "test"]
    hw_virt: bool = Field(description="hardware-assisted virtualization really usable")
    agent_version: str


class HostUsage(Wire):
    """A sample of how busy the node is."""

    cpu_percent: float
    memory_total_mib: int
    memory_used_mib: int
    memory_free_mib: int
    sampled_at: datetime


# --- storage ------------------------------------------------------------------------


class PoolType(StrEnum):
    """Kinds of datastore an agent realizes as libvirt storage pools."""

    DIR = "dir"
    NETFS = "netfs"


class PoolSpec(Wire):
    """A datastore as a node should have it."""

    name: ObjectName
    type: PoolType = PoolType.DIR
    # dir: the directory; netfs: the local mount point.
    path: str = Field(pattern=r"^/[^\x00]*$")
    # netfs only: "server:/export".
    source: str | None = None

    @model_validator(mode="after")
    def _source_for_netfs_only(self) -> Self:
        if (self.type == PoolType.NETFS) != (self.source is not None):
            raise ValueError("source ('server:/export') is required for netfs and only for netfs")
        return self


class PoolReport(Wire):
    """A storage pool as the node has it."""

    name: str
    type: str
    path: str
    active: bool
    capacity_mib: int
    allocation_mib: int
    available_mib: int


class VolumeSpec(Wire):
    """A volume to create in a pool."""

    name: ObjectName
    capacity_mib: int = Field(ge=1)
    format: Literal["qcow2", "raw"] = "qcow2"
    # A linked clone: this volume (same pool) becomes the backing file.
    backing_volume: ObjectName | None = None


class VolumeClone(Wire):
    """A full copy of a volume under a new name (a linked clone's chain is flattened),
    in the same pool or in ``pool``, optionally converted and grown."""

    name: ObjectName
    pool: ObjectName | None = Field(default=None, description="target pool; default the same")
    format: Literal["qcow2", "raw"] | None = Field(default=None, description="default: same")
    capacity_mib: int | None = Field(default=None, ge=1, description="grow the copy to this")


class VolumeResize(Wire):
    """A new, larger capacity."""

    capacity_mib: int = Field(ge=1)


class VolumeReport(Wire):
    """A volume as the node has it."""

    name: str
    pool: str
    path: str
    format: str
    capacity_mib: int
    allocation_mib: int
    backing_path: str | None = None


# --- network ------------------------------------------------------------------------


class PortGroupSpec(Wire):
    """A port group on a DVS: a VLAN tag (0 = untagged), or a trunk of VLANs whose native
    (untagged) VLAN is ``vlan_id``."""

    name: ObjectName
    vlan_id: int = Field(ge=0, le=4094)
    trunk: list[Annotated[int, Field(ge=1, le=4094)]] = Field(default_factory=list, max_length=4094)

    @model_validator(mode="after")
    def _trunk(self) -> Self:
        if self.vlan_id in self.trunk:
            raise ValueError("the native VLAN (vlan_id) is not also a tagged VLAN of the trunk")
        self.trunk = sorted(set(self.trunk))
        return self


class NetworkSpec(Wire):
    """A DVS as a node realizes it: an OVS bridge plus a libvirt network with port groups."""

    name: ObjectName
    bridge: IfaceName
    uplink: IfaceName | None = None
    mtu: int = Field(default=1500, ge=576, le=9216)
    port_groups: list[PortGroupSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_port_groups(self) -> Self:
        names = [g.name for g in self.port_groups]
        if len(names) != len(set(names)):
            raise ValueError("two port groups have the same name")
        return self


class NetworkReport(Wire):
    """A DVS as the node has it."""

    name: str
    bridge: str
    active: bool
    port_groups: list[PortGroupSpec]


# --- domains ------------------------------------------------------------------------


class DiskSpec(Wire):
    """A disk of a domain: a volume of a pool, or a CD-ROM with an image (a volume too)
    or with an empty tray (no pool and volume)."""

    device: str = Field(pattern=r"^(vd|sd|hd)[a-z]$", description="target device, e.g. vda")
    bus: Literal["virtio", "scsi", "sata", "ide"] = "virtio"
    kind: Literal["disk", "cdrom"] = "disk"
    pool: ObjectName | None = None
    volume: ObjectName | None = None
    format: Literal["qcow2", "raw"] = "qcow2"
    boot_order: int | None = Field(default=None, ge=1)
    readonly: bool = False

    @model_validator(mode="after")
    def _media(self) -> Self:
        if (self.pool is None) != (self.volume is None):
            raise ValueError("pool and volume go together")
        if self.kind == "disk" and self.volume is None:
            raise ValueError("a disk needs a pool and a volume (only a CD-ROM may be empty)")
        return self

    @property
    def empty(self) -> bool:
        """An empty CD-ROM tray."""
        return self.volume is None


class MediaChange(Wire):
    """What a CD-ROM holds from now on: an image volume, or nothing (ejected)."""

    pool: ObjectName | None = None
    volume: ObjectName | None = None

    @model_validator(mode="after")
    def _together(self) -> Self:
        if (self.pool is None) != (self.volume is None):
            raise ValueError("pool and volume go together (neither ejects)")
        return self


class NicSpec(Wire):
    """A NIC of a domain, on a port group of a DVS network."""

    mac: Mac
    network: ObjectName
    portgroup: ObjectName | None = None
    model: Literal["virtio", "e1000", "rtl8139"] = "virtio"
    boot_order: int | None = Field(default=None, ge=1)
    mtu: int = Field(default=1500, ge=576, le=9216, description="of the NIC's DVS")
    ips: list[IpText] = Field(
        default_factory=list,
        max_length=8,
        description="Addresses bound to the MAC: the node drops the NIC's traffic from any "
        "other address (libvirt's clean-traffic nwfilter)",
    )


class PciAddress(Wire):
    """A host PCI device to pass through."""

    domain: int = Field(default=0, ge=0, le=0xFFFF)
    bus: int = Field(ge=0, le=0xFF)
    slot: int = Field(ge=0, le=0x1F)
    function: int = Field(ge=0, le=7)


class ConsoleSpec(Wire):
    """A VNC console. On the node it is a UNIX socket that only the agent opens (never a
    network address); VRM relays it to ticket holders over the agent's channel."""


class DirectBoot(Wire):
    """Boot a kernel and initrd from files on the node (appliances, tests)."""

    kernel: str = Field(pattern=r"^/")
    initrd: str | None = Field(default=None, pattern=r"^/")
    cmdline: str = ""


class BootDevice(StrEnum):
    """Where the firmware looks for something to boot."""

    HD = "hd"
    CDROM = "cdrom"
    NETWORK = "network"


# The IDE CD-ROM a seed is attached as (IDE: every machine type has the controller).
SEED_DEVICE = "hdd"


class SeedSpec(Wire):
    """A cloud-init NoCloud seed: the files of the ISO the node attaches as a CD-ROM."""

    meta_data: str = Field(max_length=64 * 1024)
    network_config: str = Field(default="", max_length=64 * 1024)
    user_data: str = Field(default="", max_length=64 * 1024)


class DomainSpec(Wire):
    """Everything needed to define a domain; defining twice with one uuid updates it."""

    uuid: uuid.UUID
    name: ObjectName
    vcpus: int = Field(ge=1, le=512)
    max_vcpus: int = Field(ge=1, le=512)
    memory_mib: int = Field(ge=16)
    max_memory_mib: int = Field(ge=16)
    cpu_shares: int = Field(default=1024, ge=2, le=262144)
    cpu_limit_mhz: int = Field(default=0, ge=0, description="0 = unlimited")
    cpu_reservation_mhz: int = Field(default=0, ge=0)
    disks: list[DiskSpec] = Field(default_factory=list)
    nics: list[NicSpec] = Field(default_factory=list)
    boot: list[BootDevice] = Field(default_factory=lambda: [BootDevice.HD])
    console: ConsoleSpec | None = None
    hostdevs: list[PciAddress] = Field(default_factory=list)
    direct_boot: DirectBoot | None = None
    machine: str = "pc"
    # A named CPU model (e.g. Westmere) the guest sees on every host; None = libvirt's
    # default guest CPU. A cluster mixing CPU generations names its baseline here.
    cpu_model: str | None = Field(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    seed: SeedSpec | None = None

    @model_validator(mode="after")
    def _maxima(self) -> Self:
        if self.max_vcpus < self.vcpus:
            raise ValueError("max_vcpus must be at least vcpus")
        if self.max_memory_mib < self.memory_mib:
            raise ValueError("max_memory_mib must be at least memory_mib")
        devices = [d.device for d in self.disks]
        if len(devices) != len(set(devices)):
            raise ValueError("two disks use the same device name")
        if self.seed is not None and SEED_DEVICE in devices:
            raise ValueError(f"{SEED_DEVICE} is the cloud-init seed's device; use another one")
        macs = [n.mac for n in self.nics]
        if len(macs) != len(set(macs)):
            raise ValueError("two NICs use the same MAC")
        return self


class DomainState(StrEnum):
    """A domain's state as libvirt reports it."""

    RUNNING = "running"
    BLOCKED = "blocked"
    PAUSED = "paused"
    SHUTDOWN = "shutdown"  # shutting down
    SHUTOFF = "shutoff"
    CRASHED = "crashed"
    PMSUSPENDED = "pmsuspended"
    NOSTATE = "nostate"


class ConsoleInfo(Wire):
    """The consoles of a running domain, and who is watching them."""

    vnc_socket: str | None = Field(default=None, description="the VNC UNIX socket on the node")
    serial: bool = Field(default=False, description="the domain has a serial port (ttyS0)")
    viewers: int = Field(default=0, description="VNC relays open now")


class DomainStatus(Wire):
    """A domain in a heartbeat: just enough to reconcile."""

    uuid: uuid.UUID
    name: str
    state: DomainState


class DomainReport(DomainStatus):
    """A domain in detail, parsed back from its live XML."""

    persistent: bool
    vcpus: int
    max_vcpus: int
    memory_mib: int
    max_memory_mib: int
    disks: list[DiskSpec] = Field(default_factory=list)
    nics: list[NicSpec] = Field(default_factory=list)
    console: ConsoleInfo | None = None


class DomainStats(Wire):
    """Counters of one domain, sampled by the agent."""

    uuid: uuid.UUID
    cpu_time_ns: int
    memory_actual_mib: int
    memory_rss_mib: int
    block_rd_bytes: int = 0
    block_wr_bytes: int = 0
    net_rx_bytes: int = 0
    net_tx_bytes: int = 0


class SnapshotSpec(Wire):
    """A snapshot to take."""

    name: ObjectName
    description: str = ""


class StopRequest(Wire):
    """Stop a domain: ACPI first; ``force`` destroys when the guest does not obey in time
    (``timeout_s`` 0 with ``force``: at once, without asking the guest)."""

    force: bool = False
    timeout_s: float = Field(default=60.0, ge=0, le=3600)

    @model_validator(mode="after")
    def _zero_only_forced(self) -> Self:
        if self.timeout_s == 0 and not self.force:
            raise ValueError("timeout_s 0 (power off at once) needs force")
        return self


class UndefineRequest(Wire):
    """Remove a domain definition, optionally with its volumes."""

    delete_volumes: bool = False


class VcpuChange(Wire):
    """Live vCPU hot-add (and cold change when stopped)."""

    vcpus: int = Field(ge=1)


class MemoryChange(Wire):
    """Live balloon target (and cold change when stopped)."""

    memory_mib: int = Field(ge=16)


# --- operations (202 answers) -------------------------------------------------------


class OperationState(StrEnum):
    """Life of a long agent operation."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class Operation(Wire):
    """A long operation the agent runs; VRM polls ``GET /v1/operations/{id}``."""

    id: uuid.UUID
    kind: str
    target: str
    state: OperationState
    progress: int = Field(default=0, ge=0, le=100, description="percent done, when known")
    error: ErrorDetail | None = None
    result: dict[str, Any] = Field(default_factory=dict)
    started_at: datetime
    finished_at: datetime | None = None


# --- enrollment and heartbeat (agent -> VRM) ----------------------------------------


class EnrollRequest(Wire):
    """First contact (the one-time token travels as ``Authorization: Bearer``)."""

    agent_url: str = Field(pattern=r"^https?://")
    address: str = Field(min_length=1, max_length=255)
    facts: HostFacts
    pools: list[PoolReport] = Field(default_factory=list)


class EnrollResponse(Wire):
    """The node's identity and its two credentials (shown once)."""

    host_id: uuid.UUID
    cluster_id: uuid.UUID
    # The agent presents this to VRM on every call (VRM keeps only its hash).
    host_credential: str
    # VRM presents this to the agent on every call (the agent keeps only its hash).
    vrm_credential: str
    # The datastores VRM registered for the pools the agent reported, by pool name.
    datastores: dict[str, uuid.UUID] = Field(default_factory=dict)


class Heartbeat(Wire):
    """Periodic report: usage, pools and every domain's state."""

    sent_at: datetime
    usage: HostUsage
    domains: list[DomainStatus] = Field(default_factory=list)
    pools: list[PoolReport] = Field(default_factory=list)
    facts: HostFacts | None = Field(default=None, description="sent when changed")


class HeartbeatAck(Wire):
    """VRM's answer to a heartbeat."""

    host_state: str
