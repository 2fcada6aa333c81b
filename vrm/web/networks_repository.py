"""What the network pages read besides the network domain's own lists: NIC owners."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy import RowMapping, select
from sqlalchemy.orm import Session

from vrm.models import Vm, VmNic


class NetworkPageRepository:
    """The VMs behind NICs, for the allocation lists of IP pools."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def nic_owners(self, nic_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, RowMapping]:
        """``nic_id -> {vm_id, vm_name, slot}`` for each of ``nic_ids`` that exists."""
        ids = list(nic_ids)
        if not ids:
            return {}
        stmt = (
            select(VmNic.id, VmNic.slot, Vm.id.label("vm_id"), Vm.name.label("vm_name"))
            .join(Vm, Vm.id == VmNic.vm_id)
            .where(VmNic.id.in_(ids))
        )
        return {row["id"]: row for row in self.session.execute(stmt).mappings()}
