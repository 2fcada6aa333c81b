"""Request checks that need the VM as it is now."""

from __future__ import annotations

from vrm.errors import Conflict, ValidationFailed
from vrm.models import Vm
from vrm.models.enums import VmState
from vrm.vms.schemas import ResizeBody

# What a resize may change.
RESIZED = ("vcpus", "memory_mib", "max_vcpus", "max_memory_mib")


def resize_allowed(vm: Vm, body: ResizeBody) -> None:
    """Running VMs only grow, within their maxima; every figure stays within its maximum."""
    vcpus = body.vcpus or vm.vcpus
    memory = body.memory_mib or vm.memory_mib
    max_vcpus = body.max_vcpus or vm.max_vcpus
    max_memory = body.max_memory_mib or vm.max_memory_mib
    if vcpus > max_vcpus or memory > max_memory:
        raise ValidationFailed(
            "vcpus and memory_mib must stay within max_vcpus and max_memory_mib",
            code="resize_above_maximum",
            details={"max_vcpus": max_vcpus, "max_memory_mib": max_memory},
        )
    if vm.state != VmState.RUNNING:
        return
    if body.max_vcpus is not None or body.max_memory_mib is not None:
        raise Conflict("the maxima change only while the VM is stopped", code="vm_state_conflict")
    if vcpus < vm.vcpus:
        raise Conflict(
            "vCPUs cannot be removed from a running VM; stop it first",
            code="vm_state_conflict",
            details={"vcpus": vm.vcpus},
        )
