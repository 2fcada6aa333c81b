"""Power operations: start, stop, reboot, pause, resume."""

from __future__ import annotations

from cna_agent.protocol import StopRequest
from vrm.agents.client import AgentFailed
from vrm.models.enums import VmState
from vrm.tasks.flow import TaskFailure, register
from vrm.vms.flows.base import VmFlow


@register
class StartFlow(VmFlow):
    """Power a stopped VM on."""

    type = "vm.start"
    steps = ("start",)

    def start(self) -> None:
        """Start the domain (a running one stays as it is)."""
        self.agent.action(self.vm.uuid, "start")

    def finish(self) -> None:
        self.end(VmState.RUNNING)


@register
class StopFlow(VmFlow):
    """Ask the guest to shut down, and destroy it when ``force`` and it does not obey in
    time; or power it off at once (``mode`` poweroff, or ``force`` with ``timeout_s`` 0)."""

    type = "vm.stop"
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


@register
class RebootFlow(VmFlow):
    """Ask the guest to reboot (ACPI)."""

    type = "vm.reboot"
    steps = ("reboot",)

    def reboot(self) -> None:
        """Send the reboot request."""
        self.agent.action(self.vm.uuid, "reboot")

    def finish(self) -> None:
        self.end(VmState.RUNNING)


@register
class PauseFlow(VmFlow):
    """Freeze a running VM in memory."""

    type = "vm.pause"
    steps = ("pause",)

    def pause(self) -> None:
        """Pause the domain."""
        self.agent.action(self.vm.uuid, "pause")

    def finish(self) -> None:
        self.end(VmState.PAUSED)


@register
class ResumeFlow(VmFlow):
    """Let a paused VM run again."""

    type = "vm.resume"
    steps = ("resume",)

    def resume(self) -> None:
        """Resume the domain."""
        self.agent.action(self.vm.uuid, "resume")

    def finish(self) -> None:
        self.end(VmState.RUNNING)
