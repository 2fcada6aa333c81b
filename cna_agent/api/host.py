"""``/v1/host``: facts, usage, domain statistics and assignable PCI devices."""

from __future__ import annotations

from fastapi import APIRouter

from cna_agent.api.deps import NodeDep
from cna_agent.protocol import DomainStats, HostFacts, HostUsage
from cna_agent.virt.facts import PciDevice, pci_devices
from cna_agent.virt.stats import domain_stats

router = APIRouter(prefix="/host", tags=["host"])


@router.get("/facts")
def facts(node: NodeDep, refresh: bool = False) -> HostFacts:
    """What this node is."""
    return node.facts(refresh=refresh)


@router.get("/usage")
def usage(node: NodeDep) -> HostUsage:
    """CPU and memory use now (CPU since the previous sample)."""
    return node.usage.sample()


@router.get("/domain-stats")
def stats(node: NodeDep) -> list[DomainStats]:
    """Counters of every running domain."""
    return domain_stats(node.hv)


@router.get("/pci-devices")
def pci(node: NodeDep) -> list[PciDevice]:
    """PCI devices that could be passed through."""
    return pci_devices(node.hv)
