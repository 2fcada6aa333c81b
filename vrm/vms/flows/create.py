"""Creating a VM on its host: networks, volumes, definition, and power on if asked."""

from __future__ import annotations

import contextlib
import logging

from cna_agent.protocol import VolumeSpec
from vrm.agents.client import AgentCallError
from vrm.models import Dvs, PortGroup, Volume
from vrm.models.enums import ObjectState, VmState
from vrm.tasks.flow import TaskFailure, register
from vrm.vms.flows.base import VmFlow
from vrm.vms.spec import network_spec, pool_of, volume_name

log = logging.getLogger(__name__)


@register
class CreateFlow(VmFlow):
    """Bring a recorded VM into existence on the host the scheduler chose."""

    type = "vm.create"
    steps = ("networks", "volumes", "define", "power_on")

    def networks(self) -> None:
        """Make sure the host has the DVS of every NIC, with its VLAN port groups."""
        session, agent = self.ctx.session, self.agent
        seen = set()
        for nic in self.vm.nics:
            group = session.get(PortGroup, nic.port_group_id)
            dvs = session.get(Dvs, group.dvs_id) if group else None
            if dvs is not None and dvs.id not in seen:
                seen.add(dvs.id)
                agent.ensure_network(network_spec(session, dvs))

    def volumes(self) -> None:
        """Create the VM's new volumes (existing ones are left as they are)."""
        vm, agent = self.vm, self.agent
        assert vm.host_id is not None
        for volume in self._new_volumes():
            pool = pool_of(self.ctx.session, vm.host_id, volume)
            spec = VolumeSpec(
                name=volume.name, capacity_mib=volume.capacity_mib, format=volume.format.value
            )
            report = agent.create_volume(pool, spec)
            volume.state, volume.allocation_mib = ObjectState.IN_USE, report.allocation_mib

    def define(self) -> None:
        """Define the domain (idempotent on the VM's uuid)."""
        self.redefine()

    def power_on(self) -> None:
        """Start it, when the request asked for that."""
        if self.ctx.params.get("power_on"):
            self.agent.action(self.vm.uuid, "start")

    def finish(self) -> None:
        self.end(VmState.RUNNING if self.ctx.params.get("power_on") else VmState.STOPPED)

    def compensate(self, failure: TaskFailure) -> None:
        """Remove what was made on the node, then the VM's records: nothing is left behind."""
        vm = self.vm
        with contextlib.suppress(AgentCallError, TaskFailure):
            self.agent.undefine(vm.uuid, delete_volumes=False)
        volumes = self._new_volumes(any_state=True)
        for volume in volumes:
            self._drop_on_node(volume)
        self._forget(volumes)

    def release(self) -> None:
        """A cancelled create never reached the node: forget the records."""
        self._forget(self._new_volumes(any_state=True))

    def _forget(self, volumes: list[Volume]) -> None:
        """Delete the VM (its disks and NICs go with it), then its new volumes."""
        session = self.ctx.session
        session.delete(self.vm)
        session.flush()
        for volume in volumes:
            session.delete(volume)

    def _new_volumes(self, *, any_state: bool = False) -> list[Volume]:
        """The volumes this create made (named after the VM), optionally only pending ones."""
        prefix = volume_name(self.vm, "")
        found = []
        for disk in self.vm.disks:
            volume = self.ctx.session.get(Volume, disk.volume_id)
            if volume is None or not volume.name.startswith(prefix):
                continue
            if any_state or volume.state == ObjectState.CREATING:
                found.append(volume)
        return found

    def _drop_on_node(self, volume: Volume) -> None:
        vm = self.vm
        try:
            assert vm.host_id is not None
            self.agent.delete_volume(pool_of(self.ctx.session, vm.host_id, volume), volume.name)
        except (AgentCallError, TaskFailure) as exc:
            log.warning("could not delete volume %s of failed VM %s: %s", volume.name, vm.name, exc)
