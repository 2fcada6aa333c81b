"""Attaching and detaching disks and NICs (live when running, in the definition always)."""

from __future__ import annotations

import contextlib

from cna_agent.protocol import VolumeSpec
from vrm.agents.client import AgentCallError
from vrm.errors import VrmError
from vrm.models import Dvs, PortGroup, VmDisk, VmNic, Volume
from vrm.models.enums import ObjectState, VmState
from vrm.network import allocator
from vrm.tasks.flow import TaskFailure
from vrm.tasks.types import TaskType
from vrm.vms.flows.base import VmFlow
from vrm.vms.spec import disk_spec, network_spec, nic_spec, pool_of, volume_name


class _DiskFlow(VmFlow):
    """What the disk flows share."""

    def the_disk(self) -> VmDisk:
        """The disk the task is about (by device name)."""
        device = self.ctx.params["device"]
        for disk in self.vm.disks:
            if disk.device == device:
                return disk
        raise TaskFailure(f"VM {self.vm.name} has no disk {device}", code="disk_not_found")

    def the_volume(self) -> Volume:
        """The volume behind that disk."""
        volume = self.ctx.session.get(Volume, self.the_disk().volume_id)
        if volume is None:
            raise TaskFailure("the disk's volume is gone", code="volume_not_found")
        return volume

    def pool(self, volume: Volume) -> str:
        """The pool name of a volume on the VM's host."""
        assert self.vm.host_id is not None
        return pool_of(self.ctx.session, self.vm.host_id, volume)

    def finish(self) -> None:
        self.end(self.previous_state())


class AttachDiskFlow(_DiskFlow):
    """Create the new volume if there is one, then attach it."""

    type = TaskType.VM_ATTACH_DISK
    steps = ("create_volume", "attach")

    def create_volume(self) -> None:
        """Create the disk's volume when it is a new one."""
        volume = self.the_volume()
        if volume.state == ObjectState.CREATING:
            spec = VolumeSpec(
                name=volume.name, capacity_mib=volume.capacity_mib, format=volume.format.value
            )
            volume.allocation_mib = self.agent.create_volume(self.pool(volume), spec).allocation_mib

    def attach(self) -> None:
        """Attach the disk (live too when the VM runs)."""
        vm = self.vm
        assert vm.host_id is not None
        self.agent.attach_disk(vm.uuid, disk_spec(self.ctx.session, vm.host_id, self.the_disk()))
        self.the_volume().state = ObjectState.IN_USE

    def compensate(self, failure: TaskFailure) -> None:
        """Detach and forget the disk; a volume made for it is deleted too."""
        with contextlib.suppress(AgentCallError):
            self.agent.detach_disk(self.vm.uuid, self.ctx.params["device"])
        self._forget(on_node=True)

    def release(self) -> None:
        """Cancelled before it ran: forget the rows."""
        self._forget(on_node=False)

    def _forget(self, *, on_node: bool) -> None:
        volume, disk = self.the_volume(), self.the_disk()
        made_here = volume.name == volume_name(self.vm, disk.device)
        pool = self.pool(volume)
        self.ctx.session.delete(disk)
        self.ctx.session.flush()
        if made_here:
            if on_node:
                with contextlib.suppress(AgentCallError):
                    self.agent.delete_volume(pool, volume.name)
            self.ctx.session.delete(volume)
        self.end(self.previous_state())


class DetachDiskFlow(_DiskFlow):
    """Detach a disk, then keep its volume (available) or delete it."""

    type = TaskType.VM_DETACH_DISK
    steps = ("detach", "forget")

    def detach(self) -> None:
        """Detach the disk on the node (idempotent)."""
        self.agent.detach_disk(self.vm.uuid, self.ctx.params["device"])

    def forget(self) -> None:
        """Drop the disk row; the volume becomes available, or is deleted when asked."""
        volume, disk = self.the_volume(), self.the_disk()
        self.ctx.session.delete(disk)
        self.ctx.session.flush()
        if self.ctx.params.get("delete_volume"):
            self.agent.delete_volume(self.pool(volume), volume.name)
            self.ctx.session.delete(volume)
        else:
            volume.state = ObjectState.AVAILABLE


class _NicFlow(VmFlow):
    """What the NIC flows share."""

    def the_nic(self) -> VmNic:
        """The NIC the task is about (by MAC)."""
        mac = self.ctx.params["mac"]
        for nic in self.vm.nics:
            if nic.mac == mac:
                return nic
        raise TaskFailure(f"VM {self.vm.name} has no NIC {mac}", code="nic_not_found")

    def finish(self) -> None:
        self.end(self.previous_state())


class AttachNicFlow(_NicFlow):
    """Make sure the host has the port group's DVS, then attach the NIC."""

    type = TaskType.VM_ATTACH_NIC
    steps = ("network", "attach", "seed")

    def network(self) -> None:
        """Create or update the DVS network on the host."""
        session = self.ctx.session
        group = session.get(PortGroup, self.the_nic().port_group_id)
        dvs = session.get(Dvs, group.dvs_id) if group else None
        if dvs is None:
            raise TaskFailure("the NIC's port group is gone", code="port_group_not_found")
        self.agent.ensure_network(network_spec(session, dvs))

    def attach(self) -> None:
        """Attach the NIC (live too when the VM runs)."""
        self.agent.attach_nic(self.vm.uuid, nic_spec(self.ctx.session, self.the_nic()))

    def seed(self) -> None:
        """Define the domain again: its cloud-init seed now names the new NIC."""
        self.redefine()

    def compensate(self, failure: TaskFailure) -> None:
        """Detach and forget the NIC."""
        with contextlib.suppress(AgentCallError):
            self.agent.detach_nic(self.vm.uuid, self.ctx.params["mac"])
        self.release()

    def release(self) -> None:
        """Forget the NIC row."""
        self.ctx.session.delete(self.the_nic())
        self.end(self.previous_state())


class DetachNicFlow(_NicFlow):
    """Detach a NIC, then forget it."""

    type = TaskType.VM_DETACH_NIC
    steps = ("detach", "forget", "seed")

    def detach(self) -> None:
        """Detach the NIC on the node (idempotent)."""
        self.agent.detach_nic(self.vm.uuid, self.ctx.params["mac"])

    def forget(self) -> None:
        """Drop the NIC row (its MAC and addresses become free)."""
        self.ctx.session.delete(self.the_nic())

    def seed(self) -> None:
        """Define the domain again: its cloud-init seed no longer names the NIC."""
        self.redefine()


class SetIpsFlow(_NicFlow):
    """Move a NIC's filter (live when running) and the VM's seed to its new addresses;
    the request already moved the allocations."""

    type = TaskType.VM_SET_IPS
    steps = ("apply",)

    def apply(self) -> None:
        nic = nic_spec(self.ctx.session, self.the_nic())
        if self.previous_state() == VmState.RUNNING:
            self.agent.update_nic(self.vm.uuid, nic)
        self.redefine()

    def compensate(self, failure: TaskFailure) -> None:
        """Take the previous addresses back when still free, else keep the new ones."""
        nic, previous = self.the_nic(), list(self.ctx.params.get("previous_ips", []))
        session = self.ctx.session
        try:
            with session.begin_nested():
                allocator.release(session, [nic.id])
                session.flush()
                allocator.assign(session, nic, previous)
        except VrmError:
            pass  # taken meanwhile: the NIC keeps its new addresses, as the task says
        session.expire(nic, ["allocations"])
        super().compensate(failure)
