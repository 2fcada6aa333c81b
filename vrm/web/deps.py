"""Dependencies of WebUI pages: the logged-in user, or a redirect to the login page."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from vrm.auth.principal import Principal
from vrm.deps import SessionDep, get_principal
from vrm.errors import Forbidden, Unauthorized


class LoginRequired(Exception):
    """The page needs a logged-in user; the app answers with a redirect to ``/login``."""


async def page_user(request: Request, session: SessionDep) -> Principal:
    """The user of the session cookie (checked as the API checks it)."""
    try:
        return await get_principal(request, session, None)
    except (Unauthorized, Forbidden) as exc:
        raise LoginRequired from exc


PageUser = Annotated[Principal, Depends(page_user)]


async def page_admin(user: PageUser) -> Principal:
    """A page only admins may see."""
    if not user.can("admin"):
        raise Forbidden(
            f"role {user.role!r} may not see this page", details={"permission": "admin"}
        )
    return user


PageAdmin = Annotated[Principal, Depends(page_admin)]
