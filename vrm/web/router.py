"""The WebUI's own routes: logging in and out, the language, the live event stream.

The pages themselves live in ``vrm.web.pages``; every change a page makes goes through
``/api/v1`` with the session cookie and the CSRF token (``vrm.auth.cookies``).
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.security import HTTPAuthorizationCredentials
from starlette.concurrency import run_in_threadpool

from vrm.auth import cookies
from vrm.auth import service as auth_service
from vrm.deps import SessionDep, SettingsDep, get_principal
from vrm.errors import Forbidden, Unauthorized
from vrm.web import i18n
from vrm.web.render import SECURITY_HEADERS, page

router = APIRouter(include_in_schema=False)

# The language cookie lasts a year; the session cookie as long as the browser runs.
_YEAR_S = 365 * 24 * 3600


def safe_next(target: str | None) -> str:
    """Where to go after logging in: a path on this site only, never another site."""
    if not target:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str | None = None) -> Response:
    """The login form (a logged-in user goes on to the console)."""
    return page(request, "login.html", user=None, next=safe_next(next), failed=False)


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    username: Annotated[str, Form(max_length=64)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    """Check the password; set the signed session cookie and go on, or say it was wrong."""
    try:
        issued = auth_service.login(
            session, username=username, password=password, ttl_s=settings.access_token_ttl_s
        )
    except Unauthorized:
        return page(
            request,
            "login.html",
            user=None,
            next=safe_next(next),
            failed=True,
            username=username,
        )
    response = RedirectResponse(safe_next(next), status_code=303, headers=SECURITY_HEADERS)
    if issued.language in i18n.LANGUAGES:
        _remember_language(response, issued.language)
    response.set_cookie(
        cookies.SESSION_COOKIE,
        cookies.sign(issued.token, secret=settings.secret_key),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    return response


@router.post("/logout")
def logout(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Revoke the session's token and drop the cookie (only with the page's CSRF token)."""
    token = cookies.session_token(request)
    if token is not None:
        if not cookies.csrf_matches(token, csrf_token, secret=settings.secret_key):
            raise Forbidden("the form is out of date; reload the page", code="csrf_failed")
        auth_service.logout(session, token=token)
    response = RedirectResponse("/login", status_code=303, headers=SECURITY_HEADERS)
    response.delete_cookie(cookies.SESSION_COOKIE, path="/")
    return response


@router.post("/language")
async def language(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    lang: Annotated[str, Form(max_length=16)] = i18n.DEFAULT,
    next: Annotated[str, Form(max_length=2000)] = "/",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Choose the language: in this browser for any visitor, and for a logged-in user
    (whose form carries the page's CSRF token) on their account too."""
    response = RedirectResponse(safe_next(next), status_code=303, headers=SECURITY_HEADERS)
    if lang not in i18n.LANGUAGES:
        return response
    _remember_language(response, lang)
    token = cookies.session_token(request)
    if token and cookies.csrf_matches(token, csrf_token, secret=settings.secret_key):
        # The form's CSRF token is checked: the session token stands for the caller.
        checked = HTTPAuthorizationCredentials(scheme="Bearer", credentials=token)
        user = await get_principal(request, session, checked)
        await run_in_threadpool(auth_service.set_language, session, actor=user, language=lang)
    return response


def _remember_language(response: Response, lang: str) -> None:
    response.set_cookie(i18n.LANG_COOKIE, lang, max_age=_YEAR_S, samesite="lax", path="/")
