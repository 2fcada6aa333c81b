"""Network API schemas: DVS, port groups, IP pools and their allocations."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, ClassVar, Self

from pydantic import AfterValidator, Field, StringConstraints, model_validator

from vrm.models import IpPool, IpRange
from vrm.network import ipam
from vrm.schemas import CreateModel, Description, Name, ReadModel, UpdateModel

MAX_DNS_SERVERS = 4
MAX_RANGES = 64
MAX_RESERVED = 1024


def _interface_name(value: str) -> str:
    if value in {".", ".."}:
        raise ValueError("'.' and '..' are not interface names")
    return value


def _distinct(values: list[str]) -> list[str]:
    if len(set(values)) != len(values):
        raise ValueError("must not repeat an address")
    return values


# A Linux network interface name, as the kernel's dev_valid_name() accepts (minus odd bytes).
InterfaceName = Annotated[
    str,
    StringConstraints(min_length=1, max_length=15, pattern=r"^[A-Za-z0-9_.\-]+$"),
    AfterValidator(_interface_name),
]
Mtu = Annotated[int, Field(ge=576, le=9216, description="Bytes")]
VlanId = Annotated[int, Field(ge=0, le=4094, description="0 = untagged")]
TrunkVlans = Annotated[
    list[Annotated[int, Field(ge=1, le=4094)]],
    Field(max_length=4094, description="VLANs carried tagged (a trunk); [] = access port"),
    AfterValidator(lambda v: sorted(set(v))),
]


def check_native_vlan(vlan_id: int, trunk: list[int]) -> None:
    if vlan_id and vlan_id in trunk:
        raise ValueError(
            "vlan_id is the trunk's native (untagged) VLAN; leave it out of trunk_vlans"
        )


# An IPv4 or IPv6 address, stored in ipaddress's canonical form.
IpAddress = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=45),
    AfterValidator(ipam.canonical_address),
    Field(examples=["10.0.0.1"]),
]
Cidr = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=64),
    Field(examples=["10.0.0.0/24"], description="Network address / prefix, no host bits set"),
]
ReservedAddresses = Annotated[
    list[IpAddress],
    Field(max_length=MAX_RESERVED, description="Addresses never handed out"),
    AfterValidator(_distinct),
]
DnsServers = Annotated[
    list[IpAddress], Field(max_length=MAX_DNS_SERVERS), AfterValidator(_distinct)
]


class DvsCreate(CreateModel):
    """A new distributed virtual switch; the site defaults to the default site."""

    name: Name
    description: Description = ""
    site_id: uuid.UUID | None = None
    bridge: InterfaceName | None = Field(
        default=None, description="OVS bridge on the nodes; generated ('ovs-…') when omitted"
    )
    uplink: InterfaceName | None = Field(default=None, description="Physical NIC on the nodes")
    mtu: Mtu = 1500


class DvsUpdate(UpdateModel):
    """Changes to a DVS (its bridge name is fixed once created)."""

    nullable: ClassVar[frozenset[str]] = frozenset({"uplink"})

    name: Name | None = None
    description: Description | None = None
    uplink: InterfaceName | None = None
    mtu: Mtu | None = None


class DvsRead(ReadModel):
    """A DVS as the API shows it."""

    id: uuid.UUID
    site_id: uuid.UUID
    name: str
    description: str
    bridge: str
    uplink: str | None
    mtu: int
    created_at: datetime
    updated_at: datetime


class PortGroupCreate(CreateModel):
    """A new port group on a DVS: an access VLAN, or a trunk (``trunk_vlans``) whose native
    untagged VLAN is ``vlan_id`` (0 = none)."""

    dvs_id: uuid.UUID
    name: Name
    description: Description = ""
    vlan_id: VlanId = 0
    trunk_vlans: TrunkVlans = Field(default_factory=list)

    @model_validator(mode="after")
    def _native_not_tagged(self) -> Self:
        check_native_vlan(self.vlan_id, self.trunk_vlans)
        return self


class PortGroupUpdate(UpdateModel):
    """Changes to a port group (it stays on its DVS)."""

    name: Name | None = None
    description: Description | None = None
    vlan_id: VlanId | None = None
    trunk_vlans: TrunkVlans | None = None


class PortGroupRead(ReadModel):
    """A port group as the API shows it."""

    id: uuid.UUID
    dvs_id: uuid.UUID
    name: str
    description: str
    vlan_id: int
    trunk_vlans: list[int]
    created_at: datetime
    updated_at: datetime


class IpRangeSpec(CreateModel):
    """An inclusive range of assignable addresses inside the pool's CIDR."""

    start: IpAddress
    end: IpAddress


class IpPoolCreate(CreateModel):
    """A new IP pool on a port group."""

    name: Name
    description: Description = ""
    port_group_id: uuid.UUID
    cidr: Cidr
    gateway: IpAddress | None = None
    dns_servers: DnsServers = Field(default_factory=list)
    ranges: list[IpRangeSpec] = Field(default_factory=list, max_length=MAX_RANGES)
    reserved: ReservedAddresses = Field(default_factory=list)


class IpPoolUpdate(UpdateModel):
    """Changes to a pool; ``ranges`` replaces the whole list (its port group and CIDR stay)."""

    nullable: ClassVar[frozenset[str]] = frozenset({"gateway"})

    name: Name | None = None
    description: Description | None = None
    gateway: IpAddress | None = None
    dns_servers: DnsServers | None = None
    ranges: list[IpRangeSpec] | None = Field(default=None, max_length=MAX_RANGES)
    reserved: ReservedAddresses | None = None


class IpRangeRead(ReadModel):
    """A range of a pool and how many addresses it holds."""

    start: str
    end: str
    size: int


class IpPoolRead(ReadModel):
    """A pool with its ranges and address counts: ``used`` = addresses NICs hold plus the
    reserved ones inside the ranges; ``free`` = total - used."""

    id: uuid.UUID
    port_group_id: uuid.UUID
    name: str
    description: str
    cidr: str
    ip_version: int
    gateway: str | None
    dns_servers: list[str]
    ranges: list[IpRangeRead]
    reserved: list[str]
    total_addresses: int
    used: int
    free: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(
        cls, pool: IpPool, ranges: Sequence[IpRange], bound: int, reserved: Sequence[str]
    ) -> IpPoolRead:
        """The read model of ``pool`` given its ranges, bound count and reserved addresses."""
        spans = ipam.sort_spans(ipam.spans_of((r.start, r.end) for r in ranges))
        items = [IpRangeRead(start=str(s.start), end=str(s.end), size=s.size) for s in spans]
        total = sum(s.size for s in spans)
        used = bound + len(reserved) - len(ipam.outside(reserved, spans))
        return cls(
            id=pool.id,
            port_group_id=pool.port_group_id,
            name=pool.name,
            description=pool.description,
            cidr=pool.cidr,
            ip_version=ipam.parse_cidr(pool.cidr).version,
            gateway=pool.gateway,
            dns_servers=list(pool.dns_servers),
            ranges=items,
            reserved=sorted(reserved, key=lambda a: int(ipam.address(a))),
            total_addresses=total,
            used=used,
            free=max(total - used, 0),
            created_at=pool.created_at,
            updated_at=pool.updated_at,
        )


class IpAllocationRead(ReadModel):
    """An address of a pool, bound to a NIC and its MAC or reserved."""

    id: uuid.UUID
    pool_id: uuid.UUID
    address: str
    nic_id: uuid.UUID | None
    mac: str | None
    reserved: bool
    created_at: datetime
