"""The one error hierarchy of VRM.

Every error a client can see is a ``VrmError``: a stable machine ``code``, a human
``message``, an HTTP ``status`` and optional ``details``. Services raise them; a
single handler in ``vrm.app`` renders them as
``{"error": {"code": ..., "message": ..., "details": {...}}}``.

    VrmError
    ├── BadRequest          400
    ├── Unauthorized        401
    ├── Forbidden           403
    ├── NotFound            404
    ├── Conflict            409
    ├── ValidationFailed    422
    └── ServiceUnavailable  503
        └── Overloaded      503 with ``Retry-After``: VRM is busy, try again shortly
"""

from __future__ import annotations

from typing import Any, ClassVar

from vrm.schemas import ErrorBody


class VrmError(Exception):
    """Base of every error that reaches a client."""

    status: ClassVar[int] = 500
    default_code: ClassVar[str] = "internal_error"
    # Seconds after which the client may try again (sent as ``Retry-After``), if any.
    retry_after_s: int | None = None

    def __init__(
        self, message: str, *, code: str | None = None, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.details = details or {}

    def body(self) -> dict[str, Any]:
        """The JSON error body."""
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


class BadRequest(VrmError):
    """The request cannot be understood as sent."""

    status = 400
    default_code = "bad_request"


class Unauthorized(VrmError):
    """No valid credential."""

    status = 401
    default_code = "unauthorized"


class Forbidden(VrmError):
    """A valid credential without the right to do this."""

    status = 403
    default_code = "forbidden"


class NotFound(VrmError):
    """The object does not exist."""

    status = 404
    default_code = "not_found"

    @classmethod
    def of(cls, kind: str, ident: object) -> NotFound:
        """A not-found error for ``kind`` with id ``ident``."""
        return cls(
            f"{kind} {ident} does not exist",
            code=f"{kind.replace(' ', '_')}_not_found",
            details={"id": str(ident)},
        )


class Conflict(VrmError):
    """The request conflicts with the current state."""

    status = 409
    default_code = "conflict"


class ValidationFailed(VrmError):
    """The request is well-formed but its values are not acceptable."""

    status = 422
    default_code = "validation_error"


class ServiceUnavailable(VrmError):
    """VRM cannot serve right now (database down, schema behind)."""

    status = 503
    default_code = "service_unavailable"


class Overloaded(ServiceUnavailable):
    """VRM has no room for the request now; ``Retry-After`` says when to try again."""

    default_code = "overloaded"

    def __init__(
        self, message: str, *, retry_after_s: int, code: str | None = None, **kw: Any
    ) -> None:
        super().__init__(message, code=code, **kw)
        self.retry_after_s = retry_after_s
        self.details = {**self.details, "retry_after_s": retry_after_s}


def error_responses(*errors: type[VrmError]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for the errors an endpoint declares."""
    return {
        err.status: {"model": ErrorBody, "description": err.__doc__ or err.default_code}
        for err in errors
    }
