"""Host API schemas (hosts are created by agent enrollment, so there is only a read model)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from vrm.models.enums import HostState
from vrm.schemas import ReadModel


class HostRead(ReadModel):
    """A compute node as the API shows it; its agent credential is never shown."""

    id: uuid.UUID
    cluster_id: uuid.UUID
    name: str
    address: str
    agent_url: str
    state: HostState
    cpu_model: str
    cpu_sockets: int
    cpu_cores: int
    cpu_threads: int
    cpu_mhz: int
    memory_mib: int
    # What the VMs placed on the host claim (templates aside).
    placed_vcpus: int
    placed_memory_mib: int
    hypervisor: str
    libvirt_version: str
    hw_virt: bool
    capabilities: dict[str, Any]
    usage: dict[str, Any]
    last_heartbeat_at: datetime | None
    created_at: datetime
    updated_at: datetime


class MaintenanceBody(BaseModel):
    """``enter-maintenance``: only plan, or evacuate within a time limit."""

    model_config = ConfigDict(extra="forbid")

    dry_run: bool = False
    timeout_s: int = Field(default=3600, ge=60, le=86_400)
