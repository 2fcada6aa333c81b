"""Small typed factories for the domain tests (names carry the ``ovrmtest-`` prefix)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any
from uuid import uuid4

from cna_agent.protocol import DiskSpec, DomainReport, DomainSpec, DomainState, NicSpec
from cna_agent.virt.domxml import build_domain_xml, parse_domain_xml

HOST_MHZ = 2000


def fake_path(disk: DiskSpec) -> str:
    """Where a test pretends a volume lives."""
    return f"/var/lib/ovrmtest/{disk.pool}/{disk.volume}"


def disk(device: str = "vda", **overrides: Any) -> DiskSpec:
    """A qcow2 virtio disk of the test pool."""
    fields = {"device": device, "pool": "ovrmtest-pool", "volume": f"ovrmtest-{device}"}
    return DiskSpec.model_validate({**fields, **overrides})


def nic(mac: str = "52:54:00:aa:00:01", **overrides: Any) -> NicSpec:
    """A virtio NIC on the test network."""
    return NicSpec.model_validate({"mac": mac, "network": "ovrmtest-net", **overrides})


def domain_spec(**overrides: Any) -> DomainSpec:
    """A small domain: 1 of 2 vCPUs, 64 of 128 MiB, one disk."""
    fields: dict[str, Any] = {
        "uuid": uuid4(),
        "name": f"ovrmtest-{uuid4().hex[:8]}",
        "vcpus": 1,
        "max_vcpus": 2,
        "memory_mib": 64,
        "max_memory_mib": 128,
        "disks": [disk()],
    }
    return DomainSpec.model_validate({**fields, **overrides})


def build(spec: DomainSpec, domain_type: str = "test") -> str:
    """The domain XML of a spec, with fake disk paths."""
    return build_domain_xml(
        spec,
        domain_type=domain_type,
        resolve_disk=fake_path,
        host_mhz=HOST_MHZ,
    )


def build_tree(spec: DomainSpec) -> ET.Element:
    """The domain XML of a spec, parsed."""
    return ET.fromstring(build(spec))


def round_trip(spec: DomainSpec) -> DomainReport:
    """Spec -> XML -> report."""
    return parse_domain_xml(build(spec), DomainState.SHUTOFF, persistent=True)
