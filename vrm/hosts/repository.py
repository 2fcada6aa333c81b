"""SQL for hosts."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select

from vrm.models import Host
from vrm.models.enums import HostState
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

    def normal_ids(self) -> Sequence[uuid.UUID]:
        """The ids of the hosts in state ``normal``, by name."""
        stmt = select(Host.id).where(Host.state == HostState.NORMAL).order_by(Host.name)
        return self.session.scalars(stmt).all()
