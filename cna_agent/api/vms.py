"""``/v1/vms``: domains by VM uuid. Every command is idempotent."""

from __future__ import annotations

import contextlib
import logging
from typing import Literal
from uuid import UUID

from fastapi import APIRouter, WebSocket, status

from cna_agent.api.deps import IdentitySource, NodeDep
from cna_agent.errors import InvalidSpec
from cna_agent.node import Node
from cna_agent.protocol import (
    ConsoleInfo,
    DiskSpec,
    DomainReport,
    DomainSpec,
    DomainStatus,
    MediaChange,
    MemoryChange,
    NicSpec,
    Operation,
    PciAddress,
    SnapshotSpec,
    StopRequest,
    VcpuChange,
)
from cna_agent.protocol.consoles import ConsoleClose, ConsoleType
from cna_agent.relay import ConsoleRefused
from cna_agent.virt.snapshots import SnapshotInfo

log = logging.getLogger(__name__)

router = APIRouter(prefix="/vms", tags=["vms"])

QuickAction = Literal["start", "pause", "resume", "reset", "reboot", "destroy"]


@router.get("")
def list_domains(node: NodeDep) -> list[DomainStatus]:
    """Every domain on the node, ours or not."""
    return node.domains.statuses()


@router.put("/{uuid}")
def define(node: NodeDep, uuid: UUID, spec: DomainSpec) -> DomainReport:
    """Define a domain, or update its definition (same uuid)."""
    if spec.uuid != uuid:
        raise InvalidSpec("the spec's uuid differs from the URL's", code="uuid_mismatch")
    return node.define(spec)


@router.get("/{uuid}")
def get_domain(node: NodeDep, uuid: UUID) -> DomainReport:
    """One domain as it is now."""
    return node.domains.get(uuid)


@router.delete("/{uuid}", status_code=status.HTTP_204_NO_CONTENT)
def undefine(node: NodeDep, uuid: UUID, delete_volumes: bool = False) -> None:
    """Remove a stopped domain (and its disks' volumes when asked); unknown is fine."""
    node.undefine(uuid, delete_volumes=delete_volumes)


@router.post("/{uuid}/stop", status_code=status.HTTP_202_ACCEPTED)
def stop(node: NodeDep, uuid: UUID, request: StopRequest) -> Operation:
    """Graceful stop (ACPI) within a time limit, then destroy when ``force`` (at once when
    the limit is 0); poll the result."""

    def work() -> None:
        if request.force and request.timeout_s == 0:
            node.domains.destroy(uuid)
        else:
            node.domains.shutdown(uuid, timeout_s=request.timeout_s, force=request.force)

    return node.operations.submit("stop", str(uuid), work)


@router.put("/{uuid}/vcpus")
def set_vcpus(node: NodeDep, uuid: UUID, change: VcpuChange) -> DomainReport:
    """Hot-add vCPUs up to the maximum (or change them while stopped)."""
    node.domains.set_vcpus(uuid, change.vcpus)
    return node.domains.get(uuid)


@router.put("/{uuid}/memory")
def set_memory(node: NodeDep, uuid: UUID, change: MemoryChange) -> DomainReport:
    """Balloon to a memory size up to the maximum (or change it while stopped)."""
    node.domains.set_memory(uuid, change.memory_mib)
    return node.domains.get(uuid)


@router.post("/{uuid}/disks")
def attach_disk(node: NodeDep, uuid: UUID, disk: DiskSpec) -> DomainReport:
    """Attach a volume as a disk (live when running)."""
    return node.attach_disk(uuid, disk)


@router.delete("/{uuid}/disks/{device}")
def detach_disk(node: NodeDep, uuid: UUID, device: str) -> DomainReport:
    """Detach a disk by device name."""
    node.domains.detach_disk(uuid, device)
    return node.domains.get(uuid)


@router.post("/{uuid}/nics")
def attach_nic(node: NodeDep, uuid: UUID, nic: NicSpec) -> DomainReport:
    """Attach a NIC to a port group (live when running)."""
    return node.attach_nic(uuid, nic)


@router.put("/{uuid}/nics/{mac}")
def update_nic(node: NodeDep, uuid: UUID, mac: str, nic: NicSpec) -> DomainReport:
    """Change a NIC's bound addresses (its IP-MAC filter), live when running."""
    if nic.mac != mac.lower():
        raise InvalidSpec("the path's MAC and the body's differ", code="mac_mismatch")
    return node.update_nic(uuid, nic)


@router.delete("/{uuid}/nics/{mac}")
def detach_nic(node: NodeDep, uuid: UUID, mac: str) -> DomainReport:
    """Detach a NIC by MAC."""
    return node.detach_nic(uuid, mac.lower())


@router.post("/{uuid}/hostdevs")
def attach_hostdev(node: NodeDep, uuid: UUID, address: PciAddress) -> DomainReport:
    """Pass a host PCI device through."""
    node.domains.attach_hostdev(uuid, address)
    return node.domains.get(uuid)


@router.put("/{uuid}/media/{device}")
def change_media(node: NodeDep, uuid: UUID, device: str, media: MediaChange) -> DomainReport:
    """Insert an image into a CD-ROM, or eject it (neither pool nor volume)."""
    return node.change_media(uuid, device, media)


@router.get("/{uuid}/console")
def console(node: NodeDep, uuid: UUID) -> ConsoleInfo:
    """The running domain's consoles (VNC socket, serial port) and its VNC viewers now."""
    return node.console(uuid)


async def console_relay(websocket: WebSocket, uuid: str) -> None:
    """``CONSOLE_WS_PATH``: relay a console to VRM (``?type=vnc|serial&exclusive=...``).

    Outside the HTTP credential dependency: the websocket checks VRM's credential itself.
    It is accepted first so that every refusal reaches VRM as a ``ConsoleClose`` code
    with a reason.
    """
    await websocket.accept()
    try:
        _check_vrm(websocket)
        vm, kind, exclusive = _console_target(websocket, uuid)
        node: Node = websocket.app.state.node
        await node.consoles.serve(websocket, vm, kind, exclusive=exclusive)
    except ConsoleRefused as exc:
        await _close(websocket, exc.code, exc.reason)
    except Exception:
        log.exception("console relay of %s failed", uuid)
        await _close(websocket, ConsoleClose.FAILED, "the node could not relay the console")


async def _close(websocket: WebSocket, code: int, reason: str) -> None:
    """Close with a code and reason, unless the other side is gone already."""
    with contextlib.suppress(RuntimeError, OSError):
        await websocket.close(code, reason)


def _check_vrm(websocket: WebSocket) -> None:
    """VRM's credential for this host in ``Authorization: Bearer``, as for HTTP calls."""
    identity_source: IdentitySource = websocket.app.state.identity
    identity = identity_source()
    scheme, _, credential = websocket.headers.get("authorization", "").partition(" ")
    if identity is None:
        raise ConsoleRefused(ConsoleClose.UNAUTHENTICATED, "this agent is not enrolled yet")
    if scheme.lower() != "bearer" or not identity.accepts(credential.strip()):
        raise ConsoleRefused(ConsoleClose.UNAUTHENTICATED, "missing or wrong VRM credential")


def _console_target(websocket: WebSocket, uuid: str) -> tuple[UUID, ConsoleType, bool]:
    """The VM, console type and exclusiveness a relay asks for."""
    query = websocket.query_params
    exclusive = query.get("exclusive", "false").lower()
    try:
        vm, kind = UUID(uuid), ConsoleType(query.get("type", ConsoleType.VNC.value))
    except ValueError as exc:
        raise ConsoleRefused(ConsoleClose.NOT_FOUND, "no such VM or console type") from exc
    if exclusive not in ("true", "false"):
        raise ConsoleRefused(ConsoleClose.NOT_FOUND, "exclusive is true or false")
    return vm, kind, exclusive == "true"


@router.get("/{uuid}/snapshots")
def list_snapshots(node: NodeDep, uuid: UUID) -> list[SnapshotInfo]:
    """The domain's snapshots."""
    return node.domains.snapshots(uuid)


@router.post("/{uuid}/snapshots", status_code=status.HTTP_201_CREATED)
def create_snapshot(node: NodeDep, uuid: UUID, spec: SnapshotSpec) -> SnapshotInfo:
    """Take a snapshot (an existing name is returned as it is)."""
    return node.domains.snapshot_create(uuid, spec)


@router.post("/{uuid}/snapshots/{name}/revert")
def revert_snapshot(node: NodeDep, uuid: UUID, name: str) -> DomainReport:
    """Go back to a snapshot (a running one starts the domain)."""
    return node.revert_snapshot(uuid, name)


@router.delete("/{uuid}/snapshots/{name}", status_code=status.HTTP_204_NO_CONTENT)
def delete_snapshot(node: NodeDep, uuid: UUID, name: str) -> None:
    """Delete a snapshot; unknown is fine."""
    node.domains.snapshot_delete(uuid, name)


# Last: its path would otherwise shadow /disks, /nics, /hostdevs and /snapshots.
@router.post("/{uuid}/{action}")
def quick_action(node: NodeDep, uuid: UUID, action: QuickAction) -> DomainReport:
    """``start``, ``pause``, ``resume``, ``reset``, ``reboot`` (ACPI) or ``destroy``."""
    handlers = {
        "start": node.start,
        "pause": node.domains.suspend,
        "resume": node.domains.resume,
        "reset": node.domains.reset,
        "reboot": node.domains.reboot,
        "destroy": node.domains.destroy,
    }
    handlers[action](uuid)
    return node.domains.get(uuid)
