"""The agent's side of the conversation with VRM: enrollment and heartbeats."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

from cna_agent.protocol import EnrollRequest, EnrollResponse, Heartbeat, HeartbeatAck

ENROLL_TIMEOUT_S = 30.0


class VrmLinkError(Exception):
    """VRM refused or could not be reached.

    ``retryable`` tells whether to try again; ``retry_after`` is how many seconds VRM
    asked to wait first (from ``Retry-After`` on a 503 or 429), None when it did not say.
    """

    def __init__(self, message: str, *, retryable: bool, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after


def retry_after_s(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delay-seconds or HTTP-date)."""
    if value is None or not value.strip():
        return None
    try:
        seconds: float | None = float(value)
    except ValueError:
        seconds = _seconds_until(value, now or datetime.now(UTC))
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return None
    return seconds


def _seconds_until(http_date: str, now: datetime) -> float | None:
    try:
        when = parsedate_to_datetime(http_date)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def _error_message(response: httpx.Response) -> str:
    """``code: message`` from VRM's error body, or the status and start of the text."""
    try:
        error = response.json()["error"]
        return f"{error['code']}: {error['message']}"
    except (ValueError, KeyError, TypeError):
        return f"HTTP {response.status_code}: {response.text[:200]}"


def _check(response: httpx.Response) -> httpx.Response:
    if response.is_success:
        return response
    status = response.status_code
    raise VrmLinkError(
        _error_message(response),
        retryable=status >= 500 or status == 429,
        retry_after=retry_after_s(response.headers.get("retry-after")),
    )


class VrmLink:
    """The agent's connection to VRM: one keep-alive client for every call, until closed."""

    def __init__(
        self,
        *,
        heartbeat_timeout_s: float = 10.0,
        keepalive_s: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._heartbeat_timeout_s = heartbeat_timeout_s
        # Heartbeats are serial: one connection, kept from one beat to the next (one
        # VRM closed meanwhile is noticed when the next beat takes it, and replaced).
        limits = httpx.Limits(
            max_connections=2, max_keepalive_connections=1, keepalive_expiry=keepalive_s
        )
        self._http = httpx.Client(limits=limits, transport=transport)

    def enroll(self, vrm_url: str, token: str, request: EnrollRequest) -> EnrollResponse:
        """Trade a one-time enrollment token for this node's identity."""
        url = f"{vrm_url.rstrip('/')}/api/v1/agents/enroll"
        response = self._post(url, token, request, ENROLL_TIMEOUT_S)
        return EnrollResponse.model_validate(response.json())

    def send_heartbeat(
        self, vrm_url: str, host_id: str, credential: str, beat: Heartbeat
    ) -> HeartbeatAck:
        """Report to VRM; its answer says the host's state there."""
        url = f"{vrm_url.rstrip('/')}/api/v1/agents/{host_id}/heartbeat"
        response = self._post(url, credential, beat, self._heartbeat_timeout_s)
        return HeartbeatAck.model_validate(response.json())

    @property
    def closed(self) -> bool:
        """Whether the link has been closed."""
        return self._http.is_closed

    def close(self) -> None:
        """Close the connection to VRM."""
        self._http.close()

    def _post(
        self, url: str, token: str, body: EnrollRequest | Heartbeat, timeout_s: float
    ) -> httpx.Response:
        try:
            response = self._http.post(
                url,
                json=body.model_dump(mode="json"),
                headers={"Authorization": f"Bearer {token}"},
                timeout=timeout_s,
            )
        except httpx.TransportError as exc:
            raise VrmLinkError(f"VRM at {url} unreachable: {exc!s}", retryable=True) from exc
        return _check(response)
