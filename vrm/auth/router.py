"""``POST /api/v1/auth/token``: user name and password in, bearer token out."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form

from vrm.auth import service
from vrm.auth.schemas import TokenRead
from vrm.deps import SessionDep, SettingsDep
from vrm.errors import Unauthorized, ValidationFailed, error_responses

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post("/token", responses=error_responses(Unauthorized, ValidationFailed))
def issue_token(
    session: SessionDep,
    settings: SettingsDep,
    username: Annotated[str, Form(min_length=1, max_length=64)],
    password: Annotated[str, Form(min_length=1, max_length=1024)],
) -> TokenRead:
    """Log in with a user name and password; the token expires after VRM_ACCESS_TOKEN_TTL_S."""
    issued = service.login(
        session, username=username, password=password, ttl_s=settings.access_token_ttl_s
    )
    return TokenRead(access_token=issued.token, expires_in=issued.expires_in)
