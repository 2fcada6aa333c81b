"""Small typed factories for rows the API cannot create yet (hosts come from agents).

They commit, as a real writer would; in tests that only releases a savepoint.
"""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from vrm.models import Host, Vm
from vrm.models.enums import HostState


def add_host(session: Session, cluster_id: uuid.UUID, *, name: str | None = None) -> Host:
    """A normal host in ``cluster_id``."""
    label = name or f"host-{uuid.uuid4().hex[:8]}"
    host = Host(
        cluster_id=cluster_id,
        name=label,
        address="127.0.0.1",
        agent_url=f"http://127.0.0.1:7070/{label}",
        state=HostState.NORMAL,
        cpu_sockets=1,
        cpu_cores=4,
        cpu_threads=8,
        cpu_mhz=2400,
        memory_mib=16384,
    )
    session.add(host)
    session.commit()
    return host


def add_vm(session: Session, cluster_id: uuid.UUID, *, name: str | None = None) -> Vm:
    """A stopped VM in ``cluster_id``."""
    vm = Vm(
        cluster_id=cluster_id,
        name=name or f"vm-{uuid.uuid4().hex[:8]}",
        vcpus=1,
        max_vcpus=2,
        memory_mib=512,
        max_memory_mib=1024,
    )
    session.add(vm)
    session.commit()
    return vm
