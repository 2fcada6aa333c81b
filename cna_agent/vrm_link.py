"""The agent's side of the conversation with VRM: enrollment and heartbeats."""

from __future__ import annotations

import httpx

from cna_agent.protocol import EnrollRequest, EnrollResponse, Heartbeat, HeartbeatAck


class VrmLinkError(Exception):
    """VRM refused or could not be reached; ``retryable`` tells whether to try again."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


def _check(response: httpx.Response) -> httpx.Response:
    if response.is_success:
        return response
    try:
        error = response.json()["error"]
        message = f"{error['code']}: {error['message']}"
    except (ValueError, KeyError, TypeError):
        message = f"HTTP {response.status_code}: {response.text[:200]}"
    raise VrmLinkError(message, retryable=response.status_code >= 500)


def _post(
    url: str, token: str, body: EnrollRequest | Heartbeat, timeout_s: float
) -> httpx.Response:
    try:
        response = httpx.post(
            url,
            json=body.model_dump(mode="json"),
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout_s,
        )
    except httpx.TransportError as exc:
        raise VrmLinkError(f"VRM at {url} unreachable: {exc!s}", retryable=True) from exc
    return _check(response)


def enroll(
    vrm_url: str, token: str, request: EnrollRequest, timeout_s: float = 30
) -> EnrollResponse:
    """Trade a one-time enrollment token for this node's identity."""
    url = f"{vrm_url.rstrip('/')}/api/v1/agents/enroll"
    return EnrollResponse.model_validate(_post(url, token, request, timeout_s).json())


def send_heartbeat(
    vrm_url: str, host_id: str, credential: str, beat: Heartbeat, timeout_s: float = 10
) -> HeartbeatAck:
    """Report to VRM; its answer says the host's state there."""
    url = f"{vrm_url.rstrip('/')}/api/v1/agents/{host_id}/heartbeat"
    return HeartbeatAck.model_validate(_post(url, credential, beat, timeout_s).json())
