"""Migration commands: a target gets ready, a source sends, and CPU compatibility."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Path, status

from cna_agent.api.deps import NodeDep
from cna_agent.errors import InvalidSpec
from cna_agent.protocol import DomainSpec, Operation
from cna_agent.protocol.migration import (
    CpuCompare,
    CpuCompatibility,
    DiskCopy,
    IncomingReady,
    MigrateRequest,
    Unplumb,
)
from cna_agent.virt import cpu

router = APIRouter(tags=["migration"])
DeviceName = Annotated[str, Path(pattern=r"^(vd|sd|hd)[a-z]$")]


@router.get("/host/cpu")
def host_cpu(node: NodeDep) -> CpuCompare:
    """The CPU this node offers guests (host-model), to compare on another node."""
    return CpuCompare(xml=cpu.host_cpu_xml(node.hv.conn))


@router.post("/host/cpu/compare")
def compare_cpu(node: NodeDep, wanted: CpuCompare) -> CpuCompatibility:
    """Whether this node can run a CPU definition."""
    found = cpu.compare_cpu(node.hv.conn, wanted.xml)
    return CpuCompatibility(compatible=found.compatible, detail=found.detail)


@router.put("/vms/{uuid}/incoming")
def prepare_incoming(node: NodeDep, uuid: UUID, spec: DomainSpec) -> IncomingReady:
    """Get ready for a domain migrating in: NICs plumbed, seed written; idempotent."""
    if spec.uuid != uuid:
        raise InvalidSpec("the spec's uuid differs from the URL's", code="uuid_mismatch")
    return node.migrations.prepare_incoming(spec)


@router.delete("/vms/{uuid}/incoming", status_code=status.HTTP_204_NO_CONTENT)
def cancel_incoming(node: NodeDep, uuid: UUID) -> None:
    """Undo a preparation for a domain that did not arrive; idempotent."""
    node.migrations.cancel_incoming(uuid)


@router.post("/vms/{uuid}/migrate", status_code=status.HTTP_202_ACCEPTED)
def migrate(node: NodeDep, uuid: UUID, request: MigrateRequest) -> Operation:
    """Live-migrate a running domain (peer to peer); poll the operation for progress and
    figures. Idempotent: while the domain's migration runs, the same operation answers
    (a VRM that lost track of it finds it again instead of starting a second one)."""
    running = node.operations.running("migrate", str(uuid))
    if running is not None:
        return running
    return node.operations.submit_tracked(
        "migrate", str(uuid), lambda progress: node.migrations.migrate(uuid, request, progress)
    )


@router.post("/vms/{uuid}/disks/{device}/copy", status_code=status.HTTP_202_ACCEPTED)
def copy_disk(node: NodeDep, uuid: UUID, device: DeviceName, request: DiskCopy) -> Operation:
    """Copy a running domain's disk into another volume of this node and switch it over
    (a long operation to poll). Idempotent while it runs, as a migration is."""
    target = f"{uuid}/{device}"
    running = node.operations.running("copy_disk", target)
    if running is not None:
        return running
    return node.operations.submit_tracked(
        "copy_disk",
        target,
        lambda progress: node.migrations.copy_disk(uuid, device, request, progress),
    )


@router.delete("/vms/{uuid}/disks/{device}/copy", status_code=status.HTTP_204_NO_CONTENT)
def abort_copy(node: NodeDep, uuid: UUID, device: DeviceName) -> None:
    """Abandon a running disk copy (the domain stays on its disk); nothing when none runs."""
    node.migrations.abort_copy(uuid, device)


@router.post("/vms/{uuid}/unplumb", status_code=status.HTTP_204_NO_CONTENT)
def unplumb(node: NodeDep, uuid: UUID, left: Unplumb) -> None:
    """Remove what a domain that left this node had here (its filtered NICs' plumbing,
    its seed); refused while the domain is here. Idempotent."""
    node.migrations.release_source(uuid, left.macs)


@router.post("/vms/{uuid}/migrate/abort", status_code=status.HTTP_204_NO_CONTENT)
def abort_migration(node: NodeDep, uuid: UUID) -> None:
    """Abort the domain's running migration; nothing to do when none runs."""
    node.migrations.abort(uuid)
