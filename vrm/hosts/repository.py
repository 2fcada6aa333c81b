"""SQL for hosts."""

from __future__ import annotations

from vrm.models import Host
from vrm.repository import Repository


class HostRepository(Repository[Host]):
    """Compute nodes."""

    model = Host
    sortable = (
        "created_at",
        "updated_at",
        "name",
        "state",
        "cpu_threads",
        "memory_mib",
        "last_heartbeat_at",
    )
