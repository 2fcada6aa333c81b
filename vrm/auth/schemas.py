"""Token endpoint schemas."""

from __future__ import annotations

from pydantic import BaseModel


class TokenRead(BaseModel):
    """An OAuth2-style bearer token answer."""

    access_token: str
    token_type: str = "bearer"
    expires_in: int | None = None
