"""The one typed client VRM uses to command CNA agents.

Failures are classified for the task engine:

    AgentCallError            base; ``retryable`` says whether trying again may help
    ├── AgentUnreachable      no answer (connection refused, timeout): retryable
    ├── AgentRejected         the agent refused the command (4xx): not retryable
    └── AgentFailed           the agent or hypervisor failed (5xx): retryable as the agent says
"""

from __future__ import annotations

import functools
import ssl
import threading
import time
import uuid
from collections.abc import Callable
from typing import Literal, TypeVar

import httpx
from pydantic import BaseModel, TypeAdapter

from cna_agent.protocol import (
    ConsoleInfo,
    DiskSpec,
    DomainReport,
    DomainSpec,
    DomainStatus,
    HostFacts,
    HostUsage,
    MediaChange,
    MemoryChange,
    NetworkReport,
    NetworkSpec,
    NicSpec,
    Operation,
    OperationState,
    PoolReport,
    PoolSpec,
    SnapshotSpec,
    StopRequest,
    VcpuChange,
    VolumeClone,
    VolumeReport,
    VolumeSpec,
)
from cna_agent.protocol.images import ImageImport
from cna_agent.protocol.migration import (
    CpuCompare,
    CpuCompatibility,
    DiskCopy,
    IncomingReady,
    MigrateRequest,
    Unplumb,
)

T = TypeVar("T")

# Few connections per agent: a host runs a handful of steps at once. Idle connections
# are dropped before the agent's uvicorn drops them (after 5 s), so that a reused
# connection is not one the agent is closing.
AGENT_LIMITS = httpx.Limits(max_connections=8, max_keepalive_connections=4, keepalive_expiry=4.0)

_TLS_LOCK = threading.Lock()


class AgentCallError(Exception):
    """A command to an agent did not succeed."""

    def __init__(self, message: str, *, code: str, status: int | None, retryable: bool) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status
        self.retryable = retryable


class AgentUnreachable(AgentCallError):
    """The agent did not answer."""


class AgentRejected(AgentCallError):
    """The agent refused the command as given."""


class AgentFailed(AgentCallError):
    """The agent tried and failed."""


@functools.cache
def _build_tls_context() -> ssl.SSLContext:
    return httpx.create_ssl_context()


def tls_context() -> ssl.SSLContext:
    """The one TLS context every agent client shares (loading CA certificates is slow)."""
    with _TLS_LOCK:
        return _build_tls_context()


class AgentClient:
    """Commands to one agent, authenticated with VRM's credential for that host.

    It keeps a connection pool and is safe to share between threads.
    """

    def __init__(
        self,
        base_url: str,
        credential: str,
        *,
        timeout_s: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {credential}"},
            timeout=timeout_s,
            transport=transport,
            verify=tls_context(),
            limits=AGENT_LIMITS,
        )

    @property
    def closed(self) -> bool:
        """Whether the connection pool has been closed."""
        return self._http.is_closed

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> AgentClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- host -----------------------------------------------------------------------

    def facts(self) -> HostFacts:
        """What the node is."""
        return self._call("GET", "/v1/host/facts", HostFacts)

    def usage(self) -> HostUsage:
        """How busy the node is."""
        return self._call("GET", "/v1/host/usage", HostUsage)

    # -- domains --------------------------------------------------------------------

    def domains(self) -> list[DomainStatus]:
        """Every domain on the node."""
        return self._call("GET", "/v1/vms", list[DomainStatus])

    def define(self, spec: DomainSpec) -> DomainReport:
        """Define (or update) a domain; idempotent on its uuid."""
        return self._call("PUT", f"/v1/vms/{spec.uuid}", DomainReport, spec)

    def domain(self, vm_uuid: uuid.UUID) -> DomainReport:
        """One domain in detail."""
        return self._call("GET", f"/v1/vms/{vm_uuid}", DomainReport)

    def action(self, vm_uuid: uuid.UUID, action: str) -> DomainReport:
        """``start``, ``pause``, ``resume``, ``reset``, ``reboot`` or ``destroy``."""
        return self._call("POST", f"/v1/vms/{vm_uuid}/{action}", DomainReport)

    def stop(self, vm_uuid: uuid.UUID, request: StopRequest) -> Operation:
        """Begin a graceful stop; poll the returned operation."""
        return self._call("POST", f"/v1/vms/{vm_uuid}/stop", Operation, request)

    def undefine(self, vm_uuid: uuid.UUID, *, delete_volumes: bool) -> None:
        """Remove a domain (and its volumes when asked); idempotent."""
        params = {"delete_volumes": str(delete_volumes).lower()}
        self._send("DELETE", f"/v1/vms/{vm_uuid}", params)

    def set_vcpus(self, vm_uuid: uuid.UUID, vcpus: int) -> DomainReport:
        """Hot-add vCPUs (running) or change them (stopped)."""
        return self._call("PUT", f"/v1/vms/{vm_uuid}/vcpus", DomainReport, VcpuChange(vcpus=vcpus))

    def set_memory(self, vm_uuid: uuid.UUID, memory_mib: int) -> DomainReport:
        """Balloon (running) or change (stopped) the memory."""
        body = MemoryChange(memory_mib=memory_mib)
        return self._call("PUT", f"/v1/vms/{vm_uuid}/memory", DomainReport, body)

    def attach_disk(self, vm_uuid: uuid.UUID, disk: DiskSpec) -> DomainReport:
        """Attach a disk."""
        return self._call("POST", f"/v1/vms/{vm_uuid}/disks", DomainReport, disk)

    def attach_nic(self, vm_uuid: uuid.UUID, nic: NicSpec) -> DomainReport:
        """Attach a NIC."""
        return self._call("POST", f"/v1/vms/{vm_uuid}/nics", DomainReport, nic)

    def update_nic(self, vm_uuid: uuid.UUID, nic: NicSpec) -> DomainReport:
        """Change a NIC's bound addresses (its filter), live when running."""
        return self._call("PUT", f"/v1/vms/{vm_uuid}/nics/{nic.mac}", DomainReport, nic)

    def detach_disk(self, vm_uuid: uuid.UUID, device: str) -> DomainReport:
        """Detach a disk by device name; idempotent."""
        return self._call("DELETE", f"/v1/vms/{vm_uuid}/disks/{device}", DomainReport)

    def detach_nic(self, vm_uuid: uuid.UUID, mac: str) -> DomainReport:
        """Detach a NIC by MAC; idempotent."""
        return self._call("DELETE", f"/v1/vms/{vm_uuid}/nics/{mac}", DomainReport)

    def snapshot(self, vm_uuid: uuid.UUID, spec: SnapshotSpec) -> None:
        """Take a snapshot (an existing name is kept as it is)."""
        self._request("POST", f"/v1/vms/{vm_uuid}/snapshots", spec)

    def revert_snapshot(self, vm_uuid: uuid.UUID, name: str) -> DomainReport:
        """Go back to a snapshot."""
        return self._call("POST", f"/v1/vms/{vm_uuid}/snapshots/{name}/revert", DomainReport)

    def delete_snapshot(self, vm_uuid: uuid.UUID, name: str) -> None:
        """Delete a snapshot; idempotent."""
        self._send("DELETE", f"/v1/vms/{vm_uuid}/snapshots/{name}")

    def change_media(self, vm_uuid: uuid.UUID, device: str, media: MediaChange) -> DomainReport:
        """Insert an image into a CD-ROM, or eject it (live when running); idempotent."""
        return self._call("PUT", f"/v1/vms/{vm_uuid}/media/{device}", DomainReport, media)

    def console(self, vm_uuid: uuid.UUID) -> ConsoleInfo:
        """Where the console of a running domain listens."""
        return self._call("GET", f"/v1/vms/{vm_uuid}/console", ConsoleInfo)

    # -- storage and network ---------------------------------------------------------

    def pools(self) -> list[PoolReport]:
        """The node's storage pools."""
        return self._call("GET", "/v1/pools", list[PoolReport])

    def ensure_pool(self, spec: PoolSpec) -> PoolReport:
        """Create a pool unless it exists as specified."""
        return self._call("PUT", f"/v1/pools/{spec.name}", PoolReport, spec)

    def create_volume(self, pool: str, spec: VolumeSpec) -> VolumeReport:
        """Create a volume unless it exists as specified."""
        return self._call("PUT", f"/v1/pools/{pool}/volumes/{spec.name}", VolumeReport, spec)

    def clone_volume(
        self,
        pool: str,
        source: str,
        name: str,
        *,
        target_pool: str | None = None,
        format: Literal["qcow2", "raw"] | None = None,
        capacity_mib: int | None = None,
    ) -> Operation:
        """Begin a full copy of a volume (into ``target_pool``, converted to ``format`` and
        grown to ``capacity_mib`` when given); poll the returned operation."""
        body = VolumeClone(name=name, pool=target_pool, format=format, capacity_mib=capacity_mib)
        return self._call("POST", f"/v1/pools/{pool}/volumes/{source}/clone", Operation, body)

    def import_image(self, pool: str, name: str, spec: ImageImport) -> Operation:
        """Begin taking an image in from a URL, a path or a volume; poll the operation."""
        return self._call("POST", f"/v1/pools/{pool}/images/{name}/import", Operation, spec)

    def delete_volume(self, pool: str, name: str) -> None:
        """Delete a volume; idempotent."""
        self._send("DELETE", f"/v1/pools/{pool}/volumes/{name}")

    def ensure_network(self, spec: NetworkSpec) -> NetworkReport:
        """Create or update a DVS network with its port groups."""
        return self._call("PUT", f"/v1/networks/{spec.name}", NetworkReport, spec)

    def delete_network(self, name: str) -> None:
        """Delete a DVS network and its bridge (refused while NICs use it); idempotent."""
        self._send("DELETE", f"/v1/networks/{name}")

    def network(self, name: str) -> NetworkReport:
        """A DVS network as the node has it (404 when it has none of that name)."""
        return self._call("GET", f"/v1/networks/{name}", NetworkReport)

    # -- migration -------------------------------------------------------------------

    def host_cpu(self) -> CpuCompare:
        """The CPU this node offers guests (its host-model definition)."""
        return self._call("GET", "/v1/host/cpu", CpuCompare)

    def compare_cpu(self, cpu: CpuCompare) -> CpuCompatibility:
        """Whether this node can run a CPU definition."""
        return self._call("POST", "/v1/host/cpu/compare", CpuCompatibility, cpu)

    def prepare_incoming(self, spec: DomainSpec) -> IncomingReady:
        """Make this node ready for a domain migrating in (NICs plumbed, seed written)."""
        return self._call("PUT", f"/v1/vms/{spec.uuid}/incoming", IncomingReady, spec)

    def cancel_incoming(self, vm_uuid: uuid.UUID) -> None:
        """Undo ``prepare_incoming`` for a domain that did not arrive; idempotent."""
        self._send("DELETE", f"/v1/vms/{vm_uuid}/incoming")

    def migrate(self, vm_uuid: uuid.UUID, request: MigrateRequest) -> Operation:
        """Begin migrating a running domain to another node; poll the operation."""
        return self._call("POST", f"/v1/vms/{vm_uuid}/migrate", Operation, request)

    def abort_migration(self, vm_uuid: uuid.UUID) -> None:
        """Abort the domain's running migration; nothing to do when none runs."""
        self._send("POST", f"/v1/vms/{vm_uuid}/migrate/abort")

    def unplumb(self, vm_uuid: uuid.UUID, macs: list[str]) -> None:
        """Remove what a domain that left the node had there (NIC plumbing, seed)."""
        self._request("POST", f"/v1/vms/{vm_uuid}/unplumb", Unplumb(macs=macs))

    def copy_disk(self, vm_uuid: uuid.UUID, device: str, request: DiskCopy) -> Operation:
        """Begin copying a running domain's disk into another volume of the node (it then
        runs on the copy); poll the operation."""
        return self._call("POST", f"/v1/vms/{vm_uuid}/disks/{device}/copy", Operation, request)

    def abort_disk_copy(self, vm_uuid: uuid.UUID, device: str) -> None:
        """Abandon a running disk copy; nothing to do when none runs."""
        self._send("DELETE", f"/v1/vms/{vm_uuid}/disks/{device}/copy")

    # -- operations ------------------------------------------------------------------

    def operation(self, op_id: uuid.UUID) -> Operation:
        """The state of a long operation."""
        return self._call("GET", f"/v1/operations/{op_id}", Operation)

    def known_operation(self, op_id: uuid.UUID) -> Operation | None:
        """A long operation, or None when the agent does not know it (it restarted, or
        forgot it long after it ended)."""
        return _unless_404(lambda: self.operation(op_id))

    def domain_if_any(self, vm_uuid: uuid.UUID) -> DomainReport | None:
        """One domain in detail, or None when the node has none with this uuid."""
        return _unless_404(lambda: self.domain(vm_uuid))

    def wait(self, op: Operation, *, timeout_s: float, poll_s: float = 0.5) -> Operation:
        """Poll ``op`` until it ends; a failed operation raises its error."""
        deadline = time.monotonic() + timeout_s
        while op.state == OperationState.RUNNING:
            if time.monotonic() > deadline:
                raise AgentUnreachable(
                    f"operation {op.id} still running after {timeout_s:g} s",
                    code="operation_wait_timeout",
                    status=None,
                    retryable=True,
                )
            time.sleep(poll_s)
            op = self.operation(op.id)
        if op.state == OperationState.FAILED and op.error is not None:
            retryable = bool(op.error.details.get("retryable", False))
            raise AgentFailed(
                op.error.message, code=op.error.code, status=None, retryable=retryable
            )
        return op

    # -- plumbing --------------------------------------------------------------------

    def _call(self, method: str, path: str, result: type[T], body: BaseModel | None = None) -> T:
        response = self._request(method, path, body)
        return TypeAdapter(result).validate_python(response.json())

    def _send(self, method: str, path: str, params: dict[str, str] | None = None) -> None:
        self._request(method, path, None, params)

    def _request(
        self,
        method: str,
        path: str,
        body: BaseModel | None,
        params: dict[str, str] | None = None,
    ) -> httpx.Response:
        json = body.model_dump(mode="json") if body is not None else None
        try:
            response = self._http.request(method, path, json=json, params=params)
        except httpx.TransportError as exc:
            raise unreachable(
                f"agent at {self._http.base_url} unreachable: {exc!s}", "agent_unreachable"
            ) from exc
        except RuntimeError as exc:
            if not self.closed:
                raise
            # A shared client closed under a running step (its agent moved, or VRM is
            # shutting down): a later attempt gets a fresh client.
            raise unreachable(
                f"client of the agent at {self._http.base_url} was closed", "agent_client_closed"
            ) from exc
        if response.is_error:
            raise error_from(response)
        return response


def _unless_404(call: Callable[[], T]) -> T | None:
    try:
        return call()
    except AgentRejected as exc:
        if exc.status == 404:
            return None
        raise


def unreachable(message: str, code: str) -> AgentUnreachable:
    """A retryable failure to get any answer."""
    return AgentUnreachable(message, code=code, status=None, retryable=True)


def error_from(response: httpx.Response) -> AgentCallError:
    """The classified error for a failed answer, using the agent's error body when present."""
    try:
        error = response.json()["error"]
        code, message = str(error["code"]), str(error["message"])
        retryable = bool(error.get("details", {}).get("retryable", False))
    except (ValueError, KeyError, TypeError):
        code, message = f"http_{response.status_code}", response.text[:200] or "no body"
        retryable = response.status_code >= 500
    if response.status_code < 500:
        return AgentRejected(message, code=code, status=response.status_code, retryable=False)
    return AgentFailed(message, code=code, status=response.status_code, retryable=retryable)
