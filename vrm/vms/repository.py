"""SQL for VMs, their disks and NICs."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import selectinload

from vrm.models import Vm, VmDisk, VmNic, VmSnapshot
from vrm.models.enums import VmState
from vrm.repository import Repository, changed_one
from vrm.vms.states import RULES, Operation


class VmRepository(Repository[Vm]):
    """VMs and templates."""

    model = Vm
    sortable = ("created_at", "updated_at", "name", "state")

    def on_host(self, host_id: uuid.UUID) -> Sequence[Vm]:
        """The VMs VRM places on ``host_id``."""
        return self.session.scalars(select(Vm).where(Vm.host_id == host_id)).all()

    def full(self, vm_id: uuid.UUID) -> Vm | None:
        """A VM with its disks and NICs loaded."""
        stmt = (
            select(Vm)
            .where(Vm.id == vm_id)
            .options(selectinload(Vm.disks), selectinload(Vm.nics))
            .execution_options(populate_existing=True)
        )
        return self.session.scalars(stmt).first()

    def page_full(self, params: Any, filters: dict[str, object]) -> tuple[Sequence[Vm], int]:
        """A page of VMs with disks and NICs loaded."""
        items, total = self.page(params, filters)
        if items:
            ids = [vm.id for vm in items]
            stmt = (
                select(Vm)
                .where(Vm.id.in_(ids))
                .options(selectinload(Vm.disks), selectinload(Vm.nics))
            )
            self.session.scalars(stmt).all()
        return items, total

    def claim(self, vm_id: uuid.UUID, op: Operation) -> bool:
        """Start ``op`` if the VM's state allows it and nothing else runs on it."""
        rule = RULES[op]
        values: dict[str, object] = {"task_state": op.value}
        if rule.transient is not None:
            values["state"] = rule.transient
        stmt = (
            update(Vm)
            .where(Vm.id == vm_id, Vm.task_state.is_(None), Vm.state.in_(rule.allowed))
            .values(**values)
            .execution_options(synchronize_session="fetch")
        )
        return changed_one(self.session.execute(stmt))

    def mac_taken(self, mac: str) -> bool:
        """Whether any NIC of the installation has ``mac``."""
        return self.session.scalar(select(VmNic.id).where(VmNic.mac == mac)) is not None

    def disk_of_volume(self, volume_id: uuid.UUID) -> VmDisk | None:
        """The disk using a volume, if any."""
        return self.session.scalars(select(VmDisk).where(VmDisk.volume_id == volume_id)).first()

    def snapshot(self, vm_id: uuid.UUID, name: str) -> VmSnapshot | None:
        """One snapshot of a VM by name."""
        stmt = select(VmSnapshot).where(VmSnapshot.vm_id == vm_id, VmSnapshot.name == name)
        return self.session.scalars(stmt).first()

    def set_state(self, vm: Vm, state: VmState) -> None:
        """End the VM's operation in ``state``."""
        vm.state, vm.task_state = state, None
