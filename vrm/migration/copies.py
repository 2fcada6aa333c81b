"""The copies of a VM's disks on another datastore, as the flows that move them see them.

A flow that moves disks (a migration with a datastore, or a storage move on one host)
mixes ``DiskCopies`` in. The new volumes exist in VRM from the start (``creating``); the
flow makes them on a node (empty ones for libvirt to fill, or full copies), and in the
end either adopts them (the disks switch to them, the old volumes are removed) or drops
them (they are removed, the disks stay on their old volumes).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from cna_agent.protocol import VolumeSpec
from vrm.agents.client import AgentCallError, AgentClient
from vrm.errors import VrmError
from vrm.events.emit import emit
from vrm.migration import volumes
from vrm.migration.volumes import Move
from vrm.models import Volume
from vrm.models.enums import ObjectState, Severity
from vrm.vms.flows.base import VmFlow
from vrm.vms.flows.clone import FULL_COPY_TIMEOUT_S
from vrm.vms.spec import domain_spec, pool_of

log = logging.getLogger(__name__)


class DiskCopies(VmFlow):
    """Making, adopting and dropping the copies a task's ``volume_moves`` name."""

    @property
    def source_id(self) -> uuid.UUID:
        """The host the VM runs on when the task starts."""
        return uuid.UUID(str(self.ctx.params["source_host_id"]))

    @property
    def target_id(self) -> uuid.UUID:
        """The host the VM runs on when the task ends (the source, for a storage move)."""
        return uuid.UUID(str(self.ctx.params["target_host_id"]))

    @property
    def live(self) -> bool:
        return bool(self.ctx.params.get("live", True))

    @property
    def moves(self) -> list[Move]:
        return volumes.moves_of(self.ctx.params)

    def _source(self) -> AgentClient:
        return self.ctx.agent(self.source_id)

    def _target(self) -> AgentClient:
        return self.ctx.agent(self.target_id)

    def _copier_id(self) -> uuid.UUID:
        """The node that makes the copies: the target (live), or the one VRM chose (cold)."""
        chosen = self.ctx.params.get(volumes.COPY_HOST)
        return uuid.UUID(str(chosen)) if chosen and not self.live else self.target_id

    def _copies(self) -> dict[uuid.UUID, uuid.UUID]:
        """Each moving volume's copy (old id -> new id)."""
        return {move.old: move.new for move in self.moves}

    def _make_empty_copies(self) -> None:
        """Live: the target makes the volumes libvirt copies the disks into."""
        session, target = self.ctx.session, self._target()
        for move in self.moves:
            copy = session.get(Volume, move.new)
            assert copy is not None
            volume = VolumeSpec(
                name=copy.name, capacity_mib=copy.capacity_mib, format=copy.format.value
            )
            target.create_volume(pool_of(session, self.target_id, copy), volume)

    def _copy_volumes(self) -> None:
        """Cold: the copying node copies each volume into its new one."""
        session, node_id = self.ctx.session, self._copier_id()
        node = self.ctx.agent(node_id)
        for move in self.moves:
            old, copy = session.get(Volume, move.old), session.get(Volume, move.new)
            assert old is not None
            assert copy is not None
            into = pool_of(session, node_id, copy)
            node.delete_volume(into, copy.name)  # what a copy cut short (VRM restarted) left
            started = node.clone_volume(
                pool_of(session, node_id, old), old.name, copy.name, target_pool=into
            )
            node.wait(started, timeout_s=FULL_COPY_TIMEOUT_S)

    def _adopt_copies(self, moves: Iterable[Move] | None = None, *, redefine: bool = False) -> None:
        """The disks on their copies (and, with ``redefine``, the domain defined so on its
        host), then the old volumes removed from their datastore (kept, with a warning,
        when the node cannot remove them). Idempotent."""
        session = self.ctx.session
        chosen = list(self.moves if moves is None else moves)
        disks = {disk.device: disk for disk in self.vm.disks}
        for move in chosen:
            copy, disk = session.get(Volume, move.new), disks.get(move.device)
            if copy is not None:
                copy.state = ObjectState.IN_USE
                if disk is not None and disk.volume_id == move.old:
                    disk.volume_id = copy.id
        session.flush()
        if redefine and chosen:
            self.agent.define(domain_spec(session, self.vm))
        for move in chosen:
            old = session.get(Volume, move.old)
            if old is None:
                continue
            try:
                self._source().delete_volume(pool_of(session, self.source_id, old), old.name)
            except (AgentCallError, VrmError) as exc:
                old.state = ObjectState.AVAILABLE
                self._copy_event(
                    f"the old volume {old.name} of VM {self.vm.name} could not be removed "
                    f"({exc.message}); delete it when its host is back",
                )
                continue
            session.delete(old)

    def _drop_copies(self, moves: Iterable[Move] | None = None) -> None:
        """The disks stay on their volumes: the copies go (kept as ``error`` when the node
        cannot remove them)."""
        session = self.ctx.session
        node_id = self._copier_id()
        for move in self.moves if moves is None else moves:
            copy = session.get(Volume, move.new)
            if copy is None:
                continue
            try:
                self.ctx.agent(node_id).delete_volume(pool_of(session, node_id, copy), copy.name)
            except (AgentCallError, VrmError) as exc:
                copy.state = ObjectState.ERROR
                log.warning("copy %s of a failed move stays: %s", copy.name, exc.message)
                continue
            session.delete(copy)

    def _keep_copies(self, why: str) -> None:
        """Neither adopted nor dropped (a person decides): the copies are marked ``error``."""
        for move in self.moves:
            copy = self.ctx.session.get(Volume, move.new)
            if copy is not None:
                copy.state = ObjectState.ERROR
                log.warning("copy %s of a failed move kept: %s", copy.name, why)

    def _forget_copies(self) -> None:
        """A task cancelled before it ran: the copies' rows (and the space they held) go."""
        for move in self.moves:
            copy = self.ctx.session.get(Volume, move.new)
            if copy is not None:
                self.ctx.session.delete(copy)

    def _remember(self, key: str, value: Any) -> None:
        """Keep ``value`` in the task's result (a resumed task reads it back)."""
        self.ctx.task.result = {**self.ctx.task.result, key: value}

    def _cancel_requested(self) -> bool:
        self.ctx.session.refresh(self.ctx.task, ["cancel_requested_at"])
        return self.ctx.task.cancel_requested_at is not None

    def _quietly(self, call: Callable[[], object]) -> None:
        """A clean-up call whose failure must not stop the rest: logged, not raised."""
        try:
            call()
        except AgentCallError as exc:
            log.warning("clean-up of task %s: %s", self.ctx.task.id, exc.message)

    def _copy_event(self, message: str) -> None:
        emit(
            self.ctx.session,
            type="vm_volume_left_behind",
            severity=Severity.MINOR,
            target_type="vm",
            target_id=self.vm.id,
            task_id=self.ctx.task.id,
            message=message,
        )
