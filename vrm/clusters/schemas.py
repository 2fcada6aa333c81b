"""Cluster API schemas."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import Field

from vrm.migration.schemas import ClusterMigration
from vrm.models.enums import DrsMode, PlacementPolicy
from vrm.schemas import CreateModel, Description, Name, ReadModel, UpdateModel

CpuOvercommit = Annotated[float, Field(ge=1, le=32, description="vCPUs per physical thread")]
MemOvercommit = Annotated[float, Field(ge=1, le=4, description="Guest MiB per host MiB")]
Percent = Annotated[int, Field(ge=0, le=100)]
DrsThreshold = Annotated[int, Field(ge=1, le=5, description="1 = conservative, 5 = aggressive")]
# The cluster CPU mode that names no model: VMs get libvirt's default guest CPU, and a
# migration compares the source's host CPU with the target's.
HOST_MODEL = "host-model"
CpuMode = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$",
        description="'host-model', or a libvirt CPU model every host must offer (a baseline "
        "that lets VMs migrate between hosts of different generations)",
    ),
]


class ClusterCreate(CreateModel):
    """A new cluster; the site defaults to the installation's default site."""

    name: Name
    description: Description = ""
    site_id: uuid.UUID | None = None
    cpu_overcommit: CpuOvercommit = 1.0
    mem_overcommit: MemOvercommit = 1.0
    ha_enabled: bool = False
    ha_admission_control: bool = True
    ha_reserved_percent: Percent = 0
    drs_mode: DrsMode = DrsMode.OFF
    drs_threshold: DrsThreshold = 3
    placement_policy: PlacementPolicy = PlacementPolicy.SPREAD
    mem_balloon: bool = True
    mem_ksm: bool = False
    mem_swap: bool = False
    cpu_mode: CpuMode = "host-model"
    migration_policy: ClusterMigration = Field(default_factory=ClusterMigration)


class ClusterUpdate(UpdateModel):
    """Changes to a cluster's name or settings."""

    name: Name | None = None
    description: Description | None = None
    cpu_overcommit: CpuOvercommit | None = None
    mem_overcommit: MemOvercommit | None = None
    ha_enabled: bool | None = None
    ha_admission_control: bool | None = None
    ha_reserved_percent: Percent | None = None
    drs_mode: DrsMode | None = None
    drs_threshold: DrsThreshold | None = None
    placement_policy: PlacementPolicy | None = None
    mem_balloon: bool | None = None
    mem_ksm: bool | None = None
    mem_swap: bool | None = None
    cpu_mode: CpuMode | None = None
    migration_policy: ClusterMigration | None = None


class ClusterRead(ReadModel):
    """A cluster as the API shows it."""

    id: uuid.UUID
    site_id: uuid.UUID
    name: str
    description: str
    cpu_overcommit: float
    mem_overcommit: float
    ha_enabled: bool
    ha_admission_control: bool
    ha_reserved_percent: int
    drs_mode: DrsMode
    drs_threshold: int
    placement_policy: PlacementPolicy
    mem_balloon: bool
    mem_ksm: bool
    mem_swap: bool
    cpu_mode: str
    migration_policy: ClusterMigration
    created_at: datetime
    updated_at: datetime
