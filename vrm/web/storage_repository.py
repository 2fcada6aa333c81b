"""What the storage pages read besides the storage domain's own lists: who uses a volume."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy import RowMapping, func, select
from sqlalchemy.orm import Session

from vrm.models import Vm, VmDisk, Volume


class StoragePageRepository:
    """VMs behind volumes and volume counts per datastore."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def volume_owners(self, volume_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, RowMapping]:
        """``volume_id -> {vm_id, vm_name, device}`` for the volumes attached to a VM."""
        ids = list(volume_ids)
        if not ids:
            return {}
        stmt = (
            select(VmDisk.volume_id, VmDisk.device, Vm.id.label("vm_id"), Vm.name.label("vm_name"))
            .join(Vm, Vm.id == VmDisk.vm_id)
            .where(VmDisk.volume_id.in_(ids))
        )
        return {row["volume_id"]: row for row in self.session.execute(stmt).mappings()}

    def volume_counts(self) -> dict[uuid.UUID, int]:
        """How many volumes each datastore holds (absent: none)."""
        stmt = select(Volume.datastore_id, func.count()).group_by(Volume.datastore_id)
        return {ident: int(n) for ident, n in self.session.execute(stmt).all()}
