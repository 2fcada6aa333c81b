"""Errors as a person sees them: an HTML page for the browser's own paths."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from vrm.web.render import SECURITY_HEADERS, page

# Paths that always answer the JSON error shape (machines call them).
_MACHINE_PREFIXES = ("/api/", "/healthz", "/readyz", "/static/", "/ui/events")


def wants_html(request: Request) -> bool:
    """Whether an error of this request is shown to a person in a browser."""
    path = request.url.path
    if path.startswith(_MACHINE_PREFIXES) or request.headers.get("hx-request"):
        return False
    return "text/html" in request.headers.get("accept", "")


def error_page(request: Request, status: int, code: str, message: str) -> HTMLResponse:
    """The error page: status, stable code and the message."""
    return page(
        request,
        "error.html",
        user=None,
        status_code=status,
        status=status,
        code=code,
        message=message,
    )


def to_login(request: Request) -> Response:
    """Send a visitor without a session to the login page, and back here afterwards."""
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    location = f"/login?next={quote(target, safe='')}"
    if request.headers.get("hx-request"):
        return Response(status_code=401, headers={"HX-Redirect": location, **SECURITY_HEADERS})
    return RedirectResponse(location, status_code=303, headers=SECURITY_HEADERS)
