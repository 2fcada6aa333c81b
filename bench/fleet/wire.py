"""What simulated agents send, built from the real ``cna_agent.protocol`` models.

Bodies are serialized once per host; a heartbeat is then only its pre-encoded pieces
joined around the current timestamp, which keeps the generator itself cheap.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
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

AGENT_ADDRESS = "127.0.0.2"
AGENT_PORT_BASE = 20000
# Stands for "now" in a serialized heartbeat until a beat is sent.
_PLACEHOLDER = datetime(2000, 1, 1, tzinfo=UTC)
_PLACEHOLDER_TEXT = '"2000-01-01T00:00:00Z"'
_DOMAINS_NAMESPACE = uuid.UUID("5d1e7c1a-0f1e-4e7a-9a55-0f1ee7000000")


def hostname(prefix: str, index: int) -> str:
    """The hostname of simulated host ``index``."""
    return f"{prefix}-{index:05d}"


def agent_url(name: str, index: int) -> str:
    """A unique agent URL nobody listens on (the path keeps it unique across runs)."""
    return f"http://{AGENT_ADDRESS}:{AGENT_PORT_BASE + index % 40000}/{name}"


def facts(name: str) -> HostFacts:
    """Facts of a mid-sized simulated KVM node."""
    return HostFacts(
        hostname=name,
        arch="x86_64",
        cpu_model="Skylake-Server",
        cpu_vendor="Intel",
        cpu_sockets=2,
        cpu_cores=16,
        cpu_threads=2,
        cpus=64,
        cpu_mhz=2400,
        memory_mib=262_144,
        hypervisor="QEMU 7.2.0",
        libvirt_version="9.0.0",
        domain_type="kvm",
        hw_virt=True,
        agent_version="0.1.0",
    )


def pool() -> PoolReport:
    """The node's local dir pool."""
    return PoolReport(
        name="default",
        type="dir",
        path="/var/lib/openvrm-cna/pools/default",
        active=True,
        capacity_mib=1_000_000,
        allocation_mib=200_000,
        available_mib=800_000,
    )


def enroll_request(name: str, index: int) -> EnrollRequest:
    """What a new agent sends to enroll."""
    return EnrollRequest(
        agent_url=agent_url(name, index), address=AGENT_ADDRESS, facts=facts(name), pools=[pool()]
    )


def domains(name: str, count: int) -> list[DomainStatus]:
    """``count`` running domains with uuids that stay the same for the same host."""
    return [
        DomainStatus(
            uuid=uuid.uuid5(_DOMAINS_NAMESPACE, f"{name}/{k}"),
            name=f"{name}-vm{k:03d}",
            state=DomainState.RUNNING,
        )
        for k in range(count)
    ]


def heartbeat(name: str, domain_count: int, sent_at: datetime) -> Heartbeat:
    """A heartbeat of host ``name`` sampled at ``sent_at``."""
    usage = HostUsage(
        cpu_percent=23.5,
        memory_total_mib=262_144,
        memory_used_mib=98_304,
        memory_free_mib=163_840,
        sampled_at=sent_at,
    )
    return Heartbeat(
        sent_at=sent_at, usage=usage, domains=domains(name, domain_count), pools=[pool()]
    )


def encode(message: EnrollRequest | Heartbeat) -> bytes:
    """The JSON body of ``message``, compact."""
    return json.dumps(message.model_dump(mode="json"), separators=(",", ":")).encode()


def heartbeat_template(name: str, domain_count: int) -> tuple[bytes, ...]:
    """The encoded heartbeat of ``name`` cut where its timestamps go."""
    text = encode(heartbeat(name, domain_count, _PLACEHOLDER)).decode()
    if text.count(_PLACEHOLDER_TEXT) != 2:
        raise RuntimeError("the heartbeat template lost track of its timestamps")
    return tuple(part.encode() for part in text.split(_PLACEHOLDER_TEXT))


def fill(template: tuple[bytes, ...], now: datetime) -> bytes:
    """A heartbeat body from its template, stamped ``now``."""
    stamp = b'"' + now.isoformat().encode() + b'"'
    return stamp.join(template)


@dataclass(frozen=True, slots=True)
class SimHost:
    """One enrolled simulated host: its identity and its pre-built heartbeat."""

    index: int
    hostname: str
    host_id: uuid.UUID
    path: str
    headers: dict[str, str]
    template: tuple[bytes, ...]

    def body(self, now: datetime) -> bytes:
        """This host's heartbeat body, stamped ``now``."""
        return fill(self.template, now)
