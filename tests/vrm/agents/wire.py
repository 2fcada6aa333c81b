"""Agent messages for VRM-side tests (the real agent sends the same models)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from cna_agent.protocol import (
    DomainState,
    DomainStatus,
    EnrollRequest,
    Heartbeat,
    HostFacts,
    HostUsage,
    PoolReport,
)


def facts(hostname: str = "node-1", memory_mib: int = 8192) -> HostFacts:
    """Facts of a small TCG node."""
    return HostFacts(
        hostname=hostname,
        arch="x86_64",
        cpu_model="Skylake-Client",
        cpu_vendor="Intel",
        cpu_sockets=1,
        cpu_cores=2,
        cpu_threads=1,
        cpus=2,
        cpu_mhz=2400,
        memory_mib=memory_mib,
        hypervisor="QEMU 7.2.0",
        libvirt_version="9.0.0",
        domain_type="qemu",
        hw_virt=False,
        agent_version="0.1.0",
    )


def pool(name: str = "default", capacity_mib: int = 100_000) -> PoolReport:
    """A local dir pool."""
    return PoolReport(
        name=name,
        type="dir",
        path=f"/var/lib/openvrm-cna/pools/{name}",
        active=True,
        capacity_mib=capacity_mib,
        allocation_mib=1000,
        available_mib=capacity_mib - 1000,
    )


def enroll_request(hostname: str = "node-1", port: int = 7070) -> EnrollRequest:
    """What a new agent sends."""
    return EnrollRequest(
        agent_url=f"http://127.0.0.1:{port}",
        address="127.0.0.1",
        facts=facts(hostname),
        pools=[pool()],
    )


def heartbeat(*domains: tuple[uuid.UUID, DomainState], capacity_mib: int = 100_000) -> Heartbeat:
    """A heartbeat reporting ``domains``."""
    now = datetime.now(UTC)
    return Heartbeat(
        sent_at=now,
        usage=HostUsage(
            cpu_percent=12.5,
            memory_total_mib=8192,
            memory_used_mib=2048,
            memory_free_mib=6144,
            sampled_at=now,
        ),
        domains=[DomainStatus(uuid=u, name=f"d-{u.hex[:6]}", state=s) for u, s in domains],
        pools=[pool(capacity_mib=capacity_mib)],
    )
