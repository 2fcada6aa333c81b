"""Deleting a VM: its domain on the node, optionally its volumes, then its records."""

from __future__ import annotations

from vrm.models import Volume
from vrm.models.enums import ObjectState
from vrm.tasks.types import TaskType
from vrm.vms.flows.base import VmFlow


class DeleteFlow(VmFlow):
    """Undefine the domain (and delete its volumes when asked), then forget the VM."""

    type = TaskType.VM_DELETE
    steps = ("undefine", "forget")

    def undefine(self) -> None:
        """Remove the domain; the node refuses volumes that back linked clones first."""
        vm = self.vm
        if vm.host_id is not None:
            delete_volumes = bool(self.ctx.params.get("delete_volumes", True))
            self.agent.undefine(vm.uuid, delete_volumes=delete_volumes)

    def forget(self) -> None:
        """Delete the VM's rows; kept volumes become available for other VMs."""
        session, vm = self.ctx.session, self.vm
        delete_volumes = bool(self.ctx.params.get("delete_volumes", True))
        volumes = [session.get(Volume, d.volume_id) for d in vm.disks]
        session.delete(vm)
        session.flush()
        for volume in volumes:
            if volume is None:
                continue
            if delete_volumes:
                session.delete(volume)
            else:
                volume.state = ObjectState.AVAILABLE

    def finish(self) -> None:
        """Nothing left to mark: the VM is gone."""
