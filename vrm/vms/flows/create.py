"""Creating a VM on its host: networks, volumes, definition, and power on if asked."""

from __future__ import annotations

import contextlib
import logging
import uuid

from cna_agent.protocol import VolumeReport, VolumeSpec
from vrm.agents.client import AgentCallError
from vrm.models import Dvs, Image, PortGroup, Volume
from vrm.models.enums import ObjectState, VmState
from vrm.tasks.flow import TaskFailure
from vrm.tasks.types import TaskType
from vrm.vms.flows.base import VmFlow
from vrm.vms.spec import network_spec, pool_of, volume_name

log = logging.getLogger(__name__)

# Waiting for a copy of an image: a base, plus time for each MiB at a slow disk's pace.
COPY_WAIT_S = 300.0
COPY_MIB_PER_S = 20.0


class CreateFlow(VmFlow):
    """Bring a recorded VM into existence on the host the scheduler chose."""

    type = TaskType.VM_CREATE
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
        """Create the VM's new volumes, blank or from images (existing ones are left)."""
        vm, agent = self.vm, self.agent
        assert vm.host_id is not None
        from_images: dict[str, dict[str, object]] = self.ctx.params.get("from_images", {})
        for volume in self._new_volumes():
            pool = pool_of(self.ctx.session, vm.host_id, volume)
            source = from_images.get(str(volume.id))
            if source is not None:
                report = self._from_image(pool, volume, source)
            else:
                spec = VolumeSpec(
                    name=volume.name, capacity_mib=volume.capacity_mib, format=volume.format.value
                )
                report = agent.create_volume(pool, spec)
            volume.state, volume.allocation_mib = ObjectState.IN_USE, report.allocation_mib

    def _from_image(self, pool: str, volume: Volume, source: dict[str, object]) -> VolumeReport:
        """A volume made from an image: a linked clone over its file, or a full copy grown
        to the volume's size."""
        image = self.ctx.session.get(Image, uuid.UUID(str(source["image_id"])))
        if image is None:
            raise TaskFailure("the image of a disk was deleted", code="image_not_found")
        assert self.vm.host_id is not None
        image_pool = pool_of(self.ctx.session, self.vm.host_id, image)
        agent = self.agent
        if source.get("linked"):
            spec = VolumeSpec(
                name=volume.name,
                capacity_mib=volume.capacity_mib,
                format="qcow2",
                backing_volume=image.volume_name,
            )
            return agent.create_volume(pool, spec)
        op = agent.clone_volume(
            image_pool,
            image.volume_name,
            volume.name,
            target_pool=pool,
            format=volume.format.value,
            capacity_mib=volume.capacity_mib,
        )
        done = agent.wait(op, timeout_s=COPY_WAIT_S + volume.capacity_mib / COPY_MIB_PER_S)
        return VolumeReport.model_validate(done.result)

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
