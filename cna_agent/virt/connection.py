"""One libvirt connection per agent, and the one place libvirt errors are translated."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator

import libvirt

from cna_agent.errors import (
    AgentError,
    AlreadyExists,
    HypervisorError,
    HypervisorUnavailable,
    InvalidSpec,
    NotFound,
    OperationTimeout,
    StateConflict,
    Unsupported,
)

log = logging.getLogger(__name__)

# libvirt prints every error to stderr by default, expected lookup misses included;
# we translate errors ourselves and log what matters.
libvirt.registerErrorHandler(lambda _ctx, _err: None, None)

_NOT_FOUND = {
    libvirt.VIR_ERR_NO_DOMAIN: "domain_not_found",
    libvirt.VIR_ERR_NO_STORAGE_POOL: "pool_not_found",
    libvirt.VIR_ERR_NO_STORAGE_VOL: "volume_not_found",
    libvirt.VIR_ERR_NO_NETWORK: "network_not_found",
    libvirt.VIR_ERR_NO_DOMAIN_SNAPSHOT: "snapshot_not_found",
    libvirt.VIR_ERR_NO_NODE_DEVICE: "device_not_found",
    libvirt.VIR_ERR_DEVICE_MISSING: "device_not_found",
    libvirt.VIR_ERR_NO_NWFILTER: "nwfilter_not_found",
}
_EXISTS = {
    libvirt.VIR_ERR_DOM_EXIST: "domain_exists",
    libvirt.VIR_ERR_STORAGE_VOL_EXIST: "volume_exists",
    libvirt.VIR_ERR_NETWORK_EXIST: "network_exists",
}
_INVALID = {
    libvirt.VIR_ERR_XML_ERROR,
    libvirt.VIR_ERR_XML_DETAIL,
    libvirt.VIR_ERR_INVALID_ARG,
    libvirt.VIR_ERR_CONFIG_UNSUPPORTED,
}
_UNSUPPORTED = {libvirt.VIR_ERR_NO_SUPPORT, libvirt.VIR_ERR_OPERATION_UNSUPPORTED}
_UNAVAILABLE = {libvirt.VIR_ERR_NO_CONNECT, libvirt.VIR_ERR_RPC, libvirt.VIR_ERR_AUTH_FAILED}
_TIMEOUT = {libvirt.VIR_ERR_OPERATION_TIMEOUT, libvirt.VIR_ERR_AGENT_UNRESPONSIVE}
_CONFLICT = {libvirt.VIR_ERR_OPERATION_INVALID, libvirt.VIR_ERR_RESOURCE_BUSY}


def translate_error(exc: libvirt.libvirtError) -> AgentError:
    """The agent error for a libvirt error."""
    code = exc.get_error_code()
    message = exc.get_error_message() or str(exc)
    details = {"libvirt_code": code, "libvirt_domain": exc.get_error_domain()}
    if code in _NOT_FOUND:
        return NotFound(message, code=_NOT_FOUND[code], details=details)
    if code in _EXISTS:
        return AlreadyExists(message, code=_EXISTS[code], details=details)
    if code in _INVALID:
        return InvalidSpec(message, details=details)
    if code in _UNSUPPORTED:
        return Unsupported(message, details=details)
    if code in _UNAVAILABLE:
        return HypervisorUnavailable(message, details=details)
    if code in _TIMEOUT:
        return OperationTimeout(message, details=details)
    if code in _CONFLICT:
        return StateConflict(message, details=details)
    return HypervisorError(message, details=details)


@contextlib.contextmanager
def translate() -> Iterator[None]:
    """Run a block of libvirt calls; any ``libvirtError`` leaves as an ``AgentError``."""
    try:
        yield
    except libvirt.libvirtError as exc:
        raise translate_error(exc) from exc


class Hypervisor:
    """A lazily opened, self-healing libvirt connection shared by the agent's threads."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self._conn: libvirt.virConnect | None = None
        self._lock = threading.Lock()

    @property
    def conn(self) -> libvirt.virConnect:
        """The open connection, reopened when libvirtd went away."""
        with self._lock:
            if self._conn is None or not self._alive(self._conn):
                self._conn = self._open()
            return self._conn

    def close(self) -> None:
        """Close the connection (a later use reopens it)."""
        with self._lock:
            if self._conn is not None:
                with contextlib.suppress(libvirt.libvirtError):
                    self._conn.close()
                self._conn = None

    def _open(self) -> libvirt.virConnect:
        try:
            conn = libvirt.open(self.uri)
        except libvirt.libvirtError as exc:
            raise HypervisorUnavailable(
                f"cannot connect to libvirt at {self.uri}: {exc.get_error_message()}",
                details={"uri": self.uri},
            ) from exc
        log.info("connected to libvirt at %s", self.uri)
        return conn

    @staticmethod
    def _alive(conn: libvirt.virConnect) -> bool:
        try:
            return bool(conn.isAlive())
        except libvirt.libvirtError:
            return False
