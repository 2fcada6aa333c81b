"""Figures for the front page."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from vrm.clusters.repository import ClusterRepository
from vrm.hosts.repository import HostRepository
from vrm.models.enums import HostState
from vrm.vms.repository import VmRepository


@dataclass(frozen=True, slots=True)
class Overview:
    """Inventory counts."""

    clusters: int
    hosts: int
    hosts_normal: int
    vms: int


def overview(session: Session) -> Overview:
    """Count clusters, hosts (all and healthy) and VMs."""
    hosts = HostRepository(session)
    return Overview(
        clusters=ClusterRepository(session).count(),
        hosts=hosts.count(),
        hosts_normal=hosts.count(state=HostState.NORMAL),
        vms=VmRepository(session).count(is_template=False),
    )
