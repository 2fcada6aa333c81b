"""Typed request dependencies: the database session, settings and the caller."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, TypeVar

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from vrm.auth import cookies
from vrm.auth import service as auth_service
from vrm.auth.cache import PrincipalCache
from vrm.auth.principal import Authenticated, Principal
from vrm.config import Settings
from vrm.db import SessionScope
from vrm.errors import Forbidden, Unauthorized
from vrm.load.admission import Admission
from vrm.models.base import utcnow
from vrm.tasks.flow import TaskRuntime

# Requests with these methods only read: their session never takes a write lock.
T = TypeVar("T")

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def get_settings(request: Request) -> Settings:
    """The settings the app was built with."""
    settings: Settings = request.app.state.settings
    return settings


async def get_tasks(request: Request) -> TaskRuntime:
    """The task runtime of this VRM process (flows and agent clients)."""
    runtime: TaskRuntime = request.app.state.tasks
    return runtime


async def db_turn(request: Request) -> AsyncIterator[None]:
    """A turn for database work (on the event loop, before any thread is taken); 503 if none."""
    admission: Admission = request.app.state.admission
    async with admission.turn():
        yield


async def get_session(
    request: Request, _turn: Annotated[None, Depends(db_turn, scope="function")]
) -> AsyncIterator[Session]:
    """One session per request, committed when the endpoint succeeds, else rolled back.

    Reads (GET) get a read-only session, which never waits for a writer. The session is
    made on the event loop (it connects only when first used, in the endpoint's thread);
    its commit or rollback runs in a thread.
    """
    state = request.app.state
    reads = request.method in READ_METHODS
    factory: sessionmaker[Session] = state.read_session_factory if reads else state.session_factory
    session = factory()
    # Ending an SQLite read transaction only drops a shared lock: never a wait, so it is
    # done here rather than in another thread (a PostgreSQL one is a round trip).
    inline = reads and state.engine.dialect.name == "sqlite"
    try:
        yield session
    except BaseException:
        await _finish(session, commit=False, inline=inline)
        raise
    await _finish(session, commit=True, inline=inline)
    # Side effects of what just committed.
    if session.info.pop("tasks_queued", False):
        state.task_worker.wake()
    if session.info.pop("callers_changed", False):
        state.principals.clear()


async def _finish(session: Session, *, commit: bool, inline: bool) -> None:
    if inline:
        _end(session, commit=commit)
    else:
        await run_in_threadpool(_end, session, commit=commit)


def _end(session: Session, *, commit: bool) -> None:
    """Commit (or roll back) and close: the connection goes back to the pool."""
    try:
        if commit:
            session.commit()
        else:
            session.rollback()
    finally:
        session.close()


# scope="function": the commit happens before the response leaves, so a client that
# got 202 (or 201) can at once read what it created, and a failed commit is an error.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
SettingsDep = Annotated[Settings, Depends(get_settings)]
TasksDep = Annotated[TaskRuntime, Depends(get_tasks)]

_bearer = HTTPBearer(auto_error=False, description="A token from POST /api/v1/auth/token")


async def get_principal(
    request: Request,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The authenticated caller; 401 without a valid bearer token.

    A token checked a moment ago is known without a query (``vrm.auth.cache``).
    """

    async def check(token: str) -> Authenticated:
        uses = request.app.state.token_uses
        return await run_in_threadpool(auth_service.authenticate, session, token=token, uses=uses)

    return await _principal(request, credentials, check)


async def _principal(
    request: Request,
    credentials: HTTPAuthorizationCredentials | None,
    check: Callable[[str], Awaitable[Authenticated]],
) -> Principal:
    """The caller a bearer token (or the WebUI's session cookie) names: from the cache,
    else ``check``ed and cached."""
    token = credentials.credentials if credentials is not None else _cookie_token(request)
    state = request.app.state
    cache: PrincipalCache = state.principals
    who = cache.get(token)
    if who is None:
        who = await check(token)
        cache.put(token, who)
    else:
        state.token_uses.note(who.token_id, utcnow())
    return who.principal


def _cookie_token(request: Request) -> str:
    """The session token of the WebUI's cookie; a change also needs its CSRF token."""
    token = cookies.session_token(request)
    if token is None:
        raise Unauthorized("this call needs a bearer token", code="not_authenticated")
    secret = request.app.state.settings.secret_key
    given = request.headers.get(cookies.CSRF_HEADER)
    if request.method not in cookies.SAFE_METHODS and not cookies.csrf_matches(
        token, given, secret=secret
    ):
        raise Forbidden(
            f"a change made with the session cookie needs the {cookies.CSRF_HEADER} header",
            code="csrf_failed",
        )
    return token


CurrentUser = Annotated[Principal, Depends(get_principal)]


async def in_session(request: Request, work: Callable[[Session], T], *, write: bool = True) -> T:
    """Run ``work`` in a short session of its own (a turn, a thread, a commit), for endpoints
    that must not hold a session while they run: streams that last minutes."""
    state = request.app.state
    scope: SessionScope = state.write_scope if write else state.read_scope
    admission: Admission = state.admission

    def run() -> T:
        with scope() as session:
            return work(session)

    async with admission.turn():
        return await run_in_threadpool(run)


async def get_streaming_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The caller of a streaming endpoint, authenticated in a short session of its own."""

    async def check(token: str) -> Authenticated:
        uses = request.app.state.token_uses

        def query(session: Session) -> Authenticated:
            return auth_service.authenticate(session, token=token, uses=uses)

        return await in_session(request, query, write=False)

    return await _principal(request, credentials, check)


StreamingUser = Annotated[Principal, Depends(get_streaming_principal)]


def require(permission: str) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency that lets only callers whose role grants ``permission`` through."""

    async def check(principal: CurrentUser) -> Principal:
        if not principal.can(permission):
            raise Forbidden(
                f"role {principal.role!r} may not do this (needs {permission!r})",
                details={"permission": permission},
            )
        return principal

    return check


Writer = Annotated[Principal, Depends(require("write"))]
Admin = Annotated[Principal, Depends(require("admin"))]
