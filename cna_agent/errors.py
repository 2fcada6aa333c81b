"""The agent's error hierarchy: what its API answers, whatever the cause below.

``cna_agent.virt`` translates every ``libvirtError`` into one of these in one
place (``cna_agent.virt.connection.translate``); nothing above it sees libvirt.
Each error has a stable ``code``, an HTTP ``status`` and ``retryable``: whether
VRM may try the same command again later with a chance of success.

    AgentError                 500
    ├── Interrupted            400  (a request's data ended early; retryable)
    ├── Unauthenticated        401
    ├── NotFound               404  (domain_not_found, pool_not_found, ...)
    ├── StateConflict          409  (operation not valid in the object's state)
    ├── AlreadyExists          409
    ├── InvalidSpec            422  (the hypervisor refused the configuration)
    ├── Unsupported            422  (this node cannot do that, e.g. vCPU unplug on TCG)
    ├── HypervisorError        502  (libvirt failed; retryable)
    ├── HypervisorUnavailable  503  (no connection to libvirt; retryable)
    └── OperationTimeout       504  (the guest did not obey in time)
"""

from __future__ import annotations

from typing import Any, ClassVar


class AgentError(Exception):
    """Base of every error the agent reports."""

    status: ClassVar[int] = 500
    default_code: ClassVar[str] = "agent_error"
    retryable: ClassVar[bool] = False

    def __init__(
        self, message: str, *, code: str | None = None, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.details = details or {}

    def body(self) -> dict[str, Any]:
        """The JSON error body."""
        details = {**self.details, "retryable": self.retryable}
        return {"error": {"code": self.code, "message": self.message, "details": details}}


class Interrupted(AgentError):
    """A request's data ended before its announced length (the client went away)."""

    status = 400
    default_code = "upload_interrupted"
    retryable = True


class Unauthenticated(AgentError):
    """The caller did not present VRM's credential."""

    status = 401
    default_code = "unauthenticated"


class NotFound(AgentError):
    """No such domain, pool, volume, network, snapshot or device."""

    status = 404
    default_code = "not_found"


class StateConflict(AgentError):
    """The object is not in a state that allows the operation."""

    status = 409
    default_code = "state_conflict"


class AlreadyExists(AgentError):
    """An object with that name exists with another identity."""

    status = 409
    default_code = "already_exists"


class InvalidSpec(AgentError):
    """The hypervisor refused the configuration."""

    status = 422
    default_code = "invalid_spec"


class Unsupported(AgentError):
    """This node cannot do that."""

    status = 422
    default_code = "unsupported"


class HypervisorError(AgentError):
    """libvirt or QEMU failed."""

    status = 502
    default_code = "hypervisor_error"
    retryable = True


class HypervisorUnavailable(AgentError):
    """No connection to libvirt."""

    status = 503
    default_code = "hypervisor_unavailable"
    retryable = True


class OperationTimeout(AgentError):
    """The guest did not do what was asked in time."""

    status = 504
    default_code = "operation_timeout"
    retryable = True
