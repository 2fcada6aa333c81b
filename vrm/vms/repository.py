"""SQL for VMs."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select

from vrm.models import Vm
from vrm.repository import Repository


class VmRepository(Repository[Vm]):
    """VMs and templates."""

    model = Vm
    sortable = ("created_at", "updated_at", "name", "state")

    def on_host(self, host_id: uuid.UUID) -> Sequence[Vm]:
        """The VMs VRM places on ``host_id``."""
        return self.session.scalars(select(Vm).where(Vm.host_id == host_id)).all()
