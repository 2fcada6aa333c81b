"""Every kind of task VRM runs: one enum, the values stored in ``tasks.type``.

Each type has exactly one flow; ``vrm.flows`` lists them and checks that none is
missing, so a type added here without its flow fails at start-up, not at run time.
"""

from __future__ import annotations

from enum import StrEnum

from vrm.vms.states import Operation


class TaskType(StrEnum):
    """A task's kind."""

    VM_CREATE = "vm.create"
    VM_START = "vm.start"
    VM_STOP = "vm.stop"
    VM_REBOOT = "vm.reboot"
    VM_PAUSE = "vm.pause"
    VM_RESUME = "vm.resume"
    VM_RESIZE = "vm.resize"
    VM_ATTACH_DISK = "vm.attach-disk"
    VM_DETACH_DISK = "vm.detach-disk"
    VM_ATTACH_NIC = "vm.attach-nic"
    VM_DETACH_NIC = "vm.detach-nic"
    VM_SET_IPS = "vm.set-ips"
    VM_CHANGE_MEDIA = "vm.change-media"
    VM_SNAPSHOT = "vm.snapshot"
    VM_CLONE = "vm.clone"
    VM_CONVERT_TO_TEMPLATE = "vm.convert-to-template"
    VM_MIGRATE = "vm.migrate"
    VM_MOVE_STORAGE = "vm.move-storage"
    VM_DELETE = "vm.delete"
    IMAGE_IMPORT = "image.import"
    IMAGE_UPLOAD = "image.upload"
    IMAGE_DELETE = "image.delete"
    HOST_SYNC_NETWORKS = "host.sync_networks"
    HOST_MOUNT_DATASTORE = "host.mount_datastore"
    HOST_ENTER_MAINTENANCE = "host.enter-maintenance"


# The task of each VM operation that runs as a task of its own (an image export runs
# as the image's import task, with the VM claimed meanwhile).
VM_TASKS: dict[Operation, TaskType] = {
    op: TaskType(f"vm.{op.value}") for op in Operation if op is not Operation.EXPORT_IMAGE
}


def vm_task(op: Operation) -> TaskType:
    """The task type of a VM operation."""
    return VM_TASKS[op]
