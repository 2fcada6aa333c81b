"""Rendering WebUI pages: one Jinja2 environment, the language, CSRF and security headers."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from vrm import __version__
from vrm.auth import cookies
from vrm.auth.principal import Principal
from vrm.paths import TEMPLATES_DIR
from vrm.web import i18n

# Scripts only from VRM's own files: no inline script anywhere (CSP-ready by design).
# Styles may be set by the console libraries at run time.
CSP = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "connect-src 'self'",
        "font-src 'self' data:",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    # Pages show live inventory: never from a cache.
    "Cache-Control": "no-store",
}

env = Environment(
    loader=FileSystemLoader(TEMPLATES_DIR),
    autoescape=select_autoescape(default=True),
    extensions=["jinja2.ext.i18n"],
    trim_blocks=True,
    lstrip_blocks=True,
)
env.install_gettext_callables(i18n.gettext_, i18n.ngettext_, newstyle=True)  # type: ignore[attr-defined]
env.globals["LANGUAGES"] = i18n.LANGUAGES
env.globals["version"] = __version__
env.filters["tojson_attr"] = lambda value: json.dumps(value, separators=(",", ":"))


def page(
    request: Request,
    template: str,
    *,
    user: Principal | None,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    """A whole page in the request's language, with the caller's CSRF token."""
    lang = i18n.choose(request)
    i18n.activate(lang)
    token = cookies.session_token(request)
    secret = request.app.state.settings.secret_key
    html = env.get_template(template).render(
        request=request,
        user=user,
        lang=lang,
        csrf=cookies.csrf_token(token, secret=secret) if token else "",
        static=_static_url,
        **context,
    )
    return HTMLResponse(html, status_code=status_code, headers=SECURITY_HEADERS)


def _static_url(path: str) -> str:
    """The URL of a file under ``web/static`` (the vendor folder included)."""
    return f"/static/{path}?v={__version__}"
