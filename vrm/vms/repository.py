"""SQL for VMs, their disks and NICs."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence

from sqlalchemy import RowMapping, bindparam, select, update
from sqlalchemy.orm import selectinload

from vrm.listing import ListParams
from vrm.models import IpAllocation, PortGroup, Vm, VmCdrom, VmDisk, VmNic, VmSnapshot
from vrm.models.enums import VmState
from vrm.repository import Repository, changed_one
from vrm.vms.states import RULES, Operation

# What ``VmRead`` shows of the ``vms`` row (disks and NICs come from their own rows).
READ_COLUMNS = (
    Vm.id,
    Vm.uuid,
    Vm.name,
    Vm.description,
    Vm.cluster_id,
    Vm.host_id,
    Vm.vcpus,
    Vm.max_vcpus,
    Vm.memory_mib,
    Vm.max_memory_mib,
    Vm.cpu_shares,
    Vm.cpu_reservation_mhz,
    Vm.cpu_limit_mhz,
    Vm.state,
    Vm.task_state,
    Vm.ha_enabled,
    Vm.is_template,
    Vm.boot_order,
    Vm.console_exclusive,
    Vm.ssh_keys,
    Vm.created_at,
    Vm.updated_at,
)


# The read path's statements, built once (their cache keys are computed once too).
_READ_ONE = select(*READ_COLUMNS).where(Vm.id == bindparam("vm_id"))
_DISKS = (
    select(VmDisk.vm_id, VmDisk.id, VmDisk.device, VmDisk.bus, VmDisk.volume_id)
    .where(VmDisk.vm_id.in_(bindparam("ids", expanding=True)))
    .order_by(VmDisk.device)
)
_CDROMS = (
    select(VmCdrom.vm_id, VmCdrom.id, VmCdrom.device, VmCdrom.image_id)
    .where(VmCdrom.vm_id.in_(bindparam("ids", expanding=True)))
    .order_by(VmCdrom.device)
)
_NICS = (
    select(VmNic.vm_id, VmNic.id, VmNic.slot, VmNic.mac, VmNic.model, VmNic.port_group_id)
    .add_columns(PortGroup.vlan_id)
    .join(PortGroup, PortGroup.id == VmNic.port_group_id)
    .where(VmNic.vm_id.in_(bindparam("ids", expanding=True)))
    .order_by(VmNic.slot)
)
_ADDRESSES = (
    select(IpAllocation.nic_id, IpAllocation.address)
    .where(IpAllocation.nic_id.in_(bindparam("ids", expanding=True)))
    .order_by(IpAllocation.address)
)


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
            .options(selectinload(Vm.disks), selectinload(Vm.nics), selectinload(Vm.cdroms))
            .execution_options(populate_existing=True)
        )
        return self.session.scalars(stmt).first()

    def read_page(
        self, params: ListParams, filters: Mapping[str, object]
    ) -> tuple[Sequence[RowMapping], int]:
        """A page of VMs as the API shows them (columns only; no ORM objects)."""
        return self.page_rows(READ_COLUMNS, params, filters)

    def read_one(self, vm_id: uuid.UUID) -> RowMapping | None:
        """One VM as the API shows it."""
        return self.session.execute(_READ_ONE, {"vm_id": vm_id}).mappings().first()

    def disk_rows(self, vm_ids: Sequence[uuid.UUID]) -> Sequence[RowMapping]:
        """The disks of some VMs, by device name."""
        return self.session.execute(_DISKS, {"ids": list(vm_ids)}).mappings().all()

    def cdrom_rows(self, vm_ids: Sequence[uuid.UUID]) -> Sequence[RowMapping]:
        """The CD-ROM drives of some VMs, by device name."""
        return self.session.execute(_CDROMS, {"ids": list(vm_ids)}).mappings().all()

    def nic_rows(self, vm_ids: Sequence[uuid.UUID]) -> Sequence[RowMapping]:
        """The NICs of some VMs with their port group's VLAN, by slot."""
        return self.session.execute(_NICS, {"ids": list(vm_ids)}).mappings().all()

    def address_rows(self, nic_ids: Sequence[uuid.UUID]) -> Sequence[RowMapping]:
        """``nic_id, address`` of the addresses bound to some NICs."""
        return self.session.execute(_ADDRESSES, {"ids": list(nic_ids)}).mappings().all()

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
