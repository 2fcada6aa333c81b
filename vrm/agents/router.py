"""``/api/v1/enrollment-tokens`` (operators) and ``/api/v1/agents/...`` (CNA agents)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from cna_agent.protocol import EnrollRequest, EnrollResponse, Heartbeat, HeartbeatAck
from vrm.agents import enrollment
from vrm.agents.ingest import HeartbeatIngest
from vrm.agents.schemas import EnrollmentTokenCreate, EnrollmentTokenIssued, EnrollmentTokenRead
from vrm.deps import Admin, SessionDep, SettingsDep
from vrm.errors import Conflict, Forbidden, NotFound, Overloaded, Unauthorized, ValidationFailed
from vrm.errors import error_responses as errors
from vrm.listing import ListDep
from vrm.schemas import Page

tokens_router = APIRouter(prefix="/enrollment-tokens", tags=["agents"])
agents_router = APIRouter(prefix="/agents", tags=["agents"])

_bearer = HTTPBearer(auto_error=False)


async def _bearer_secret(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str:
    """The bearer token; 401 before the body is even looked at when there is none."""
    if credentials is None:
        raise Unauthorized("this call needs a bearer token", code="not_authenticated")
    return credentials.credentials


BearerSecret = Annotated[str, Depends(_bearer_secret)]


@tokens_router.post(
    "", status_code=status.HTTP_201_CREATED, responses=errors(Forbidden, ValidationFailed)
)
def create_token(
    session: SessionDep, settings: SettingsDep, user: Admin, data: EnrollmentTokenCreate
) -> EnrollmentTokenIssued:
    """Issue a one-time enrollment token for a new host of a cluster (shown only here)."""
    row, secret = enrollment.issue_token(
        session, actor=user, data=data, default_ttl_s=settings.enrollment_token_ttl_s
    )
    return EnrollmentTokenIssued.model_validate(
        {**EnrollmentTokenRead.model_validate(row).model_dump(), "token": secret}
    )


@tokens_router.get("", responses=errors(Forbidden, ValidationFailed))
def list_tokens(session: SessionDep, _user: Admin, params: ListDep) -> Page[EnrollmentTokenRead]:
    """Enrollment tokens, newest first (secrets are never shown again)."""
    items, total = enrollment.list_tokens(session, params=params)
    return Page(items=[EnrollmentTokenRead.model_validate(t) for t in items], total=total)


@tokens_router.delete(
    "/{token_id}", status_code=status.HTTP_204_NO_CONTENT, responses=errors(Conflict, NotFound)
)
def revoke_token(session: SessionDep, user: Admin, token_id: uuid.UUID) -> None:
    """Revoke an unused enrollment token."""
    enrollment.revoke_token(session, actor=user, token_id=token_id)


@agents_router.post(
    "/enroll",
    status_code=status.HTTP_201_CREATED,
    responses=errors(Unauthorized, Conflict, ValidationFailed),
)
def enroll(
    session: SessionDep, settings: SettingsDep, secret: BearerSecret, request: EnrollRequest
) -> EnrollResponse:
    """A new agent trades its one-time token (bearer) for a host id and credentials."""
    return enrollment.enroll(session, secret=secret, request=request, key=settings.secret_key)


@agents_router.post(
    "/{host_id}/heartbeat", responses=errors(Unauthorized, ValidationFailed, Overloaded)
)
async def receive_heartbeat(
    request: Request, secret: BearerSecret, host_id: uuid.UUID, beat: Heartbeat
) -> HeartbeatAck:
    """An agent's periodic report, authenticated with its host credential (bearer).

    Taken on the event loop and written within ``VRM_HEARTBEAT_FLUSH_S``; while VRM is
    overloaded the answer is 503 with ``Retry-After``.
    """
    ingest: HeartbeatIngest = request.app.state.heartbeats
    return await ingest.accept(host_id=host_id, credential=secret, beat=beat)
