"""SQL for VMs."""

from __future__ import annotations

from vrm.models import Vm
from vrm.repository import Repository


class VmRepository(Repository[Vm]):
    """VMs and templates."""

    model = Vm
    sortable = ("created_at", "updated_at", "name", "state")
