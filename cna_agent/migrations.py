"""Migrations as the node sees them: getting ready for a domain arriving, sending one
away, and stopping a send on request.

A target prepares what the domain needs before it arrives: its filtered NICs' plumbing
(bridge, veth, OVS port with the VLAN; the nwfilter binding follows the domain) and its
cloud-init seed. It answers where the domain's files are here, and the source sends the
domain with those paths. After a successful send the source removes its own plumbing
and seed. What a target prepared is recorded under the state directory, so that a
migration that never arrives can be undone, even after an agent restart.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import UUID

from cna_agent.errors import StateConflict
from cna_agent.operations import Progress
from cna_agent.protocol import DomainSpec, DomainState
from cna_agent.protocol.migration import DiskCopy, IncomingReady, MigrateRequest
from cna_agent.virt import blockcopy, convergence, migration
from cna_agent.virt.nwfilter import ensure_filters
from cna_agent.virt.relocate import destination_xml

if TYPE_CHECKING:
    from cna_agent.node import Node

log = logging.getLogger(__name__)

_RUNNING = (DomainState.RUNNING, DomainState.BLOCKED, DomainState.PAUSED)


class Migrations:
    """Incoming preparations and outgoing migrations of one node."""

    def __init__(self, node: Node, directory: Path) -> None:
        self.node = node
        self.directory = directory
        self._aborts: dict[UUID, str] = {}
        self._copy_aborts: set[tuple[UUID, str]] = set()
        self._lock = threading.Lock()

    # -- arriving -----------------------------------------------------------------------

    def prepare_incoming(self, spec: DomainSpec) -> IncomingReady:
        """Plumb the filtered NICs and write the seed; where the domain's files are here."""
        node = self.node
        filtered = [nic for nic in spec.nics if nic.ips]
        if filtered:
            ensure_filters(node.hv)
        self._record(spec.uuid, [nic.mac for nic in filtered])
        for nic in filtered:
            node.plug_nic(nic)
        seed = str(node.seeds.write(spec.uuid, spec.seed)) if spec.seed is not None else None
        disks = {d.device: node.disk_path(d) for d in spec.disks if d.pool and d.volume}
        return IncomingReady(disk_paths=disks, seed_path=seed)

    def cancel_incoming(self, uuid: UUID) -> None:
        """Undo a preparation whose domain did not arrive; a domain that is here keeps
        everything (it arrived). Idempotent."""
        record = self._path(uuid)
        if not record.exists():
            return
        if self.node.report_or_none(uuid) is None:
            self.node.unplumb(uuid, json.loads(record.read_text()).get("macs", []))
        record.unlink(missing_ok=True)

    # -- leaving ------------------------------------------------------------------------

    def migrate(self, uuid: UUID, request: MigrateRequest, progress: Progress) -> dict[str, Any]:
        """Send a running domain to the target; the figures of the migration."""
        node = self.node
        before = node.domains.get(uuid)
        if before.state not in _RUNNING:
            raise StateConflict(
                f"domain {uuid} is {before.state.value}; only a running domain migrates live",
                code="domain_not_running",
            )
        moved = {str(node.seeds.path(uuid)): request.incoming.seed_path or ""}
        xml = destination_xml(
            node.hv,
            uuid,
            disk_paths=request.incoming.disk_paths,
            moved_files={k: v for k, v in moved.items() if v},
            copied=request.copy_disks,
        )
        policy = _policy(request)
        with self._lock:
            self._aborts.pop(uuid, None)

        def report(sample: convergence.MigrationProgress) -> None:
            progress(int(sample.percent), {"progress": _figures(sample)})

        try:
            result = migration.migrate(
                node.hv.conn,
                uuid,
                dest_uri=request.dest_uri,
                migrate_uri=request.migrate_uri,
                policy=policy,
                dest_xml=xml,
                on_progress=report,
                should_abort=lambda: self._aborts.get(uuid, False),
            )
        finally:
            with self._lock:
                self._aborts.pop(uuid, None)
        # The domain left: its plumbing and seed here go.
        self.node.unplumb(uuid, [nic.mac for nic in before.nics if nic.ips])
        return {"result": _figures(result)}

    def copy_disk(
        self, uuid: UUID, device: str, request: DiskCopy, progress: Progress
    ) -> dict[str, Any]:
        """Copy a running domain's disk into another volume here and switch it over."""
        node = self.node
        path = node.storage.volume_path(request.pool, request.volume)
        key = (uuid, device)
        with self._lock:
            self._copy_aborts.discard(key)

        def report(done: int, total: int) -> None:
            progress(
                done * 100 // total if total else 0, {"copied_bytes": done, "total_bytes": total}
            )

        try:
            blockcopy.copy_disk(
                node.hv.conn,
                uuid,
                device,
                path=path,
                fmt=request.format,
                timeout_s=request.timeout_s,
                bandwidth_mib_s=request.bandwidth_mib_s,
                on_progress=report,
                should_abort=lambda: key in self._copy_aborts,
            )
        finally:
            with self._lock:
                self._copy_aborts.discard(key)
        return {"device": device, "path": path}

    def abort_copy(self, uuid: UUID, device: str) -> None:
        """Abandon a running copy of the domain's disk; nothing to do when none runs."""
        with self._lock:
            self._copy_aborts.add((uuid, device))

    def release_source(self, uuid: UUID, macs: list[str]) -> None:
        """Remove the plumbing and seed a domain that left had here (after a migration
        whose end this agent did not see); refused while the domain is here."""
        if self.node.report_or_none(uuid) is not None:
            raise StateConflict(
                f"domain {uuid} is on this node; its NICs stay plumbed",
                code="domain_present",
            )
        self.node.unplumb(uuid, macs)

    def abort(self, uuid: UUID) -> None:
        """Stop the domain's running migration (the send ends with ``migration_aborted``);
        nothing to do when none runs."""
        with self._lock:
            self._aborts[uuid] = "VRM (an operator cancelled the task)"
        migration.abort(self.node.hv.conn, uuid)

    # -- records ------------------------------------------------------------------------

    def _path(self, uuid: UUID) -> Path:
        return self.directory / f"{uuid}.json"

    def _record(self, uuid: UUID, macs: list[str]) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self._path(uuid).write_text(json.dumps({"macs": macs}))


def _policy(request: MigrateRequest) -> convergence.MigrationPolicy:
    wire = request.policy
    return convergence.MigrationPolicy(
        **wire.model_dump(exclude={"downtime_steps_ms", "copy_storage"}),
        downtime_steps_ms=tuple(wire.downtime_steps_ms),
        copy_storage=wire.copy_storage or bool(request.copy_disks),
        copy_disks=tuple(request.copy_disks),
        # Shared storage VRM vouches for (the same datastore on both nodes) that libvirt
        # cannot recognize as a cluster filesystem, such as a directory both nodes mount.
        unsafe=True,
    )


def _figures(sample: convergence.MigrationProgress | convergence.MigrationResult) -> dict[str, Any]:
    """Figures as JSON."""
    return dataclasses.asdict(sample)
