"""The WebUI's session cookie and its CSRF token.

The cookie carries a login token (the same kind ``POST /auth/token`` issues, kept hashed
in the database) signed with ``VRM_SECRET_KEY``. Every VRM process sharing the database
and the key accepts it. The CSRF token is derived from the session token with the same
key, so it needs no storage: a page embeds it, and every request that changes something
and is authenticated by the cookie must send it back (form field or ``X-CSRF-Token``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from fastapi import Request

SESSION_COOKIE = "vrm_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
# Methods that change nothing: no CSRF token needed.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _mac(secret: str, purpose: str, value: str) -> str:
    digest = hmac.new(secret.encode(), f"{purpose}:{value}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def sign(token: str, *, secret: str) -> str:
    """The cookie value for a session token."""
    return f"{token}.{_mac(secret, 'session', token)}"


def unsign(value: str, *, secret: str) -> str | None:
    """The session token a cookie value carries, or None if its signature is wrong."""
    token, _, mac = value.rpartition(".")
    if not token or not hmac.compare_digest(mac, _mac(secret, "session", token)):
        return None
    return token


def csrf_token(token: str, *, secret: str) -> str:
    """The CSRF token that goes with a session token."""
    return _mac(secret, "csrf", token)


def csrf_matches(token: str, given: str | None, *, secret: str) -> bool:
    """Whether ``given`` is the CSRF token of the session ``token``."""
    return given is not None and hmac.compare_digest(given, csrf_token(token, secret=secret))


def session_token(request: Request) -> str | None:
    """The session token of a request's valid cookie, if it has one."""
    value = request.cookies.get(SESSION_COOKIE)
    if not value:
        return None
    return unsign(value, secret=request.app.state.settings.secret_key)
