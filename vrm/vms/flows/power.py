"""Power operations: start, stop, reboot, pause, resume."""

from __future__ import annotations

from cna_agent.protocol import StopRequest
from vrm.agents.client import AgentFailed
from vrm.models.enums import VmState
from vrm.tasks.flow import TaskFailure
from vrm.tasks.types import TaskType
from vrm.vms.flows.base import VmFlow


class StartFlow(VmFlow):
    """Power a stopped VM on."""

    type = TaskType.VM_START
    steps = ("start",)

    def start(self) -> None:
        """Start the domain (a running one stays as it is)."""
        self.agent.action(self.vm.uuid, "start")

    def finish(self) -> None:
        self.end(VmState.RUNNING)


class StopFlow(VmFlow):
    """Ask the guest to shut down, and destroy it when ``force`` and it does not obey in
    time; or power it off at once (``mode`` poweroff, or ``force`` with ``timeout_s`` 0)."""

    type = TaskType.VM_STOP
    steps = ("stop",)

    def stop(self) -> None:
        """Stop the domain and wait for it (up to the timeout, plus slack for the call);
        ``poweroff`` cuts the power at once."""
        if self.ctx.params.get("mode") == "poweroff":
            self.agent.action(self.vm.uuid, "destroy")
            return
        timeout = float(self.ctx.params.get("timeout_s", 60.0))
        request = StopRequest(force=bool(self.ctx.params.get("force", False)), timeout_s=timeout)
        agent = self.agent
        try:
            agent.wait(agent.stop(self.vm.uuid, request), timeout_s=timeout + 60)
        except AgentFailed as exc:
            if exc.code == "operation_timeout" and not request.force:
                # Not transient: asking again gets the same answer. The operator decides.
                raise TaskFailure(
                    f"the guest did not shut down within {timeout:g} s; stop with "
                    '{"force": true} to power it off',
                    code="stop_timeout",
                ) from exc
            raise

    def finish(self) -> None:
        self.end(VmState.STOPPED)


class RebootFlow(VmFlow):
    """Ask the guest to reboot (ACPI)."""

    type = TaskType.VM_REBOOT
    steps = ("reboot",)

    def reboot(self) -> None:
        """Send the reboot request."""
        self.agent.action(self.vm.uuid, "reboot")

    def finish(self) -> None:
        self.end(VmState.RUNNING)


class PauseFlow(VmFlow):
    """Freeze a running VM in memory."""

    type = TaskType.VM_PAUSE
    steps = ("pause",)

    def pause(self) -> None:
        """Pause the domain."""
        self.agent.action(self.vm.uuid, "pause")

    def finish(self) -> None:
        self.end(VmState.PAUSED)


class ResumeFlow(VmFlow):
    """Let a paused VM run again."""

    type = TaskType.VM_RESUME
    steps = ("resume",)

    def resume(self) -> None:
        """Resume the domain."""
        self.agent.action(self.vm.uuid, "resume")

    def finish(self) -> None:
        self.end(VmState.RUNNING)
