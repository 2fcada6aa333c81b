"""VM operations and the states that allow them: the one place these rules live.

An operation may start only when the VM is in one of its ``allowed`` states and no
other operation runs on it (``task_state`` is NULL). Both are checked and claimed in
one compare-and-swap (``VmRepository.claim``), so two requests can never both win.
While the operation runs the VM shows its ``transient`` state, if any; the task puts
the final state when it ends, or the previous one back when it fails.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from vrm.models.enums import VmState as S


class Operation(StrEnum):
    """Everything that can be done to a VM."""

    CREATE = "create"
    START = "start"
    STOP = "stop"
    REBOOT = "reboot"
    PAUSE = "pause"
    RESUME = "resume"
    RESIZE = "resize"
    ATTACH_DISK = "attach-disk"
    DETACH_DISK = "detach-disk"
    ATTACH_NIC = "attach-nic"
    DETACH_NIC = "detach-nic"
    SET_IPS = "set-ips"
    CHANGE_MEDIA = "change-media"
    SNAPSHOT = "snapshot"
    CLONE = "clone"
    CONVERT_TO_TEMPLATE = "convert-to-template"
    EXPORT_IMAGE = "export-image"
    MIGRATE = "migrate"
    DELETE = "delete"


@dataclass(frozen=True, slots=True)
class Rule:
    """Which states allow an operation, and what the VM shows meanwhile."""

    allowed: frozenset[S]
    transient: S | None = None


def _rule(*allowed: S, transient: S | None = None) -> Rule:
    return Rule(frozenset(allowed), transient)


RULES: dict[Operation, Rule] = {
    Operation.CREATE: _rule(S.CREATING),
    Operation.START: _rule(S.STOPPED, transient=S.STARTING),
    Operation.STOP: _rule(S.RUNNING, S.PAUSED, S.UNKNOWN, S.FAULT, transient=S.STOPPING),
    Operation.REBOOT: _rule(S.RUNNING, transient=S.REBOOTING),
    Operation.PAUSE: _rule(S.RUNNING, transient=S.PAUSING),
    Operation.RESUME: _rule(S.PAUSED),
    Operation.RESIZE: _rule(S.RUNNING, S.STOPPED),
    Operation.ATTACH_DISK: _rule(S.RUNNING, S.STOPPED),
    Operation.DETACH_DISK: _rule(S.RUNNING, S.STOPPED),
    Operation.ATTACH_NIC: _rule(S.RUNNING, S.STOPPED),
    Operation.DETACH_NIC: _rule(S.RUNNING, S.STOPPED),
    Operation.SET_IPS: _rule(S.RUNNING, S.STOPPED),
    Operation.CHANGE_MEDIA: _rule(S.RUNNING, S.PAUSED, S.STOPPED),
    Operation.SNAPSHOT: _rule(S.RUNNING, S.PAUSED, S.STOPPED),
    Operation.CLONE: _rule(S.STOPPED),
    Operation.CONVERT_TO_TEMPLATE: _rule(S.STOPPED),
    # A template's disk being copied into an image (the image's task ends the claim).
    Operation.EXPORT_IMAGE: _rule(S.STOPPED),
    # Live when running, cold when stopped.
    Operation.MIGRATE: _rule(S.RUNNING, S.STOPPED, transient=S.MIGRATING),
    Operation.DELETE: _rule(S.STOPPED, S.FAULT, S.UNKNOWN, transient=S.DELETING),
}


def allowed_states(op: Operation) -> frozenset[S]:
    """The states in which ``op`` may start."""
    return RULES[op].allowed
