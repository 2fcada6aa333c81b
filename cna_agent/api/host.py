"""``/v1/host``: facts, usage, domain statistics and assignable PCI devices."""

from __future__ import annotations

from fastapi import APIRouter

from cna_agent.api.deps import NodeDep
from cna_agent.protocol import DomainStats, HostFacts, HostUsage
from cna_agent.virt.facts import PciDevice, pci_devices

router = APIRouter(prefix="/host", tags=["host"])


@router.get("/facts")
def facts(node: NodeDep, refresh: bool = False) -> HostFacts:
    """What this node is."""
    return node.facts(refresh=refresh)


@router.get("/usage")
def usage(node: NodeDep) -> HostUsage:
    """CPU and memory use at the latest sample (taken every CNA_STATS_S)."""
    return node.current_usage()


@router.get("/domain-stats")
def stats(node: NodeDep) -> list[DomainStats]:
    """Counters of every running domain at the latest sample."""
    if node.latest_usage is None:
        node.sample_stats()
    return node.latest_domain_stats


@router.get("/pci-devices")
def pci(node: NodeDep) -> list[PciDevice]:
    """PCI devices that could be passed through."""
    return pci_devices(node.hv)
