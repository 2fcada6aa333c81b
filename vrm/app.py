"""The VRM web application: REST API under /api/v1, WebUI under /."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from anyio import to_thread
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine
from sqlalchemy.exc import DataError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from vrm import __version__
from vrm.agents.directory import AgentClients
from vrm.agents.ingest import HeartbeatIngest
from vrm.api import include_api
from vrm.auth.cache import PrincipalCache
from vrm.auth.uses import TokenUses
from vrm.config import Settings, db_pool_size, heartbeat_retry_after_s, thread_pool_size
from vrm.db import make_engine, make_session_factory
from vrm.errors import Overloaded, VrmError
from vrm.flows import all_flows
from vrm.health import router as health_router
from vrm.jobs import JobRunner
from vrm.load.admission import Admission
from vrm.load.lag import LoopLag
from vrm.load.shedding import ShedHeartbeats
from vrm.load.writebehind import WriteBehind
from vrm.paths import STATIC_DIR
from vrm.tasks.flow import FlowRegistry, TaskRuntime
from vrm.tasks.worker import TaskWorker
from vrm.web import errors as web_errors
from vrm.web.deps import LoginRequired
from vrm.web.feed import ChangeFeed
from vrm.web.live import router as live_router
from vrm.web.pages import ROUTERS as page_routers
from vrm.web.router import router as web_router

log = logging.getLogger(__name__)

API_PREFIX = "/api/v1"

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "too_many_requests",
}


def create_app(
    settings: Settings,
    engine: Engine | None = None,
    *,
    background_jobs: bool = True,
    flows: FlowRegistry | None = None,
    agent_clients: AgentClients | None = None,
) -> FastAPI:
    """Build the application over ``engine`` (made from the settings when not given).

    ``flows`` and ``agent_clients`` default to every flow and real HTTP clients; a test
    or a fleet simulator may give its own.

    ``background_jobs`` starts the periodic jobs, the task worker, the write-behind
    thread (heartbeats, token uses) and the event-loop lag monitor with the app; tests
    that drive them themselves turn it off (and call ``state.heartbeats.flush()``).
    """

    @contextlib.asynccontextmanager
    async def lifespan(application: FastAPI) -> AsyncIterator[None]:
        state = application.state
        # Every turn's request may need a thread at any moment, and sync endpoints without
        # a database turn (probes, pages) must not take the last ones.
        to_thread.current_default_thread_limiter().total_tokens = thread_pool_size(settings)
        runners = [
            JobRunner(state.session_factory, settings),
            state.task_worker,
            WriteBehind(
                [state.heartbeats.flush, state.token_uses.flush], settings.heartbeat_flush_s
            ),
        ]
        if background_jobs:
            state.lag.start()
            for runner in runners:
                runner.start()
        try:
            yield
        finally:
            if background_jobs:
                for runner in runners:
                    runner.stop()
            await state.feed.stop()
            await state.lag.stop()
            state.tasks.clients.close()

    app = FastAPI(
        lifespan=lifespan,
        title="OpenVRM",
        version=__version__,
        description="Virtual Resource Manager: inventory, placement and tasks over CNA agents.",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url="/api/docs",
        redoc_url=None,
    )
    runtime = TaskRuntime(settings, flows or all_flows(), agent_clients or AgentClients())
    install_state(app, runtime, engine)
    _install_error_handlers(app)
    app.add_middleware(
        ShedHeartbeats, lag=app.state.lag, retry_after_s=heartbeat_retry_after_s(settings)
    )
    include_api(app, API_PREFIX)
    app.include_router(health_router)
    app.include_router(web_router)
    app.include_router(live_router)
    for pages in page_routers:
        app.include_router(pages)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app


def install_state(app: FastAPI, runtime: TaskRuntime, engine: Engine | None) -> None:
    """The process-wide parts the requests share: database, load control, buffers, tasks.

    Installing them again gives an app a fresh start (the tests reuse one app: FastAPI
    builds its routes' state at an app's first request, which takes a third of a second).
    """
    state = app.state
    state.settings = settings = runtime.settings
    state.tasks = runtime
    state.engine = engine or make_engine(settings.database_url, pool_size=db_pool_size(settings))
    state.session_factory = make_session_factory(state.engine)
    state.read_session_factory = make_session_factory(state.engine, read_only=True)
    # Short transactions of their own, for work outside a request's session (streams).
    state.write_scope = state.session_factory.begin
    state.read_scope = state.read_session_factory.begin
    state.task_worker = TaskWorker(state.session_factory, runtime)
    state.admission = Admission(
        turns=settings.db_concurrency,
        queue=settings.request_queue,
        wait_s=settings.request_queue_timeout_s,
    )
    state.lag = LoopLag(settings.overload_lag_s)
    state.heartbeats = HeartbeatIngest(
        process=state.task_worker.name,
        write_scope=state.session_factory.begin,
        read_scope=state.read_session_factory.begin,
        admission=state.admission,
        lag=state.lag,
        retry_after_s=heartbeat_retry_after_s(settings),
    )
    state.token_uses = TokenUses(state.session_factory.begin)
    state.principals = PrincipalCache()
    # The read scope is looked up at each use: whoever replaces it (tests) is followed.
    state.feed = ChangeFeed(
        lambda: state.read_scope(), state.admission, settings.ui_feed_interval_s
    )


def _error(status: int, code: str, message: str, details: Any = None) -> JSONResponse:
    body = {"error": {"code": code, "message": message, "details": details or {}}}
    return JSONResponse(status_code=status, content=jsonable_encoder(body))


def _answer(
    request: Request, status: int, code: str, message: str, details: Any = None
) -> Response:
    """The error shape for machines; the same code and message as a page for a person."""
    if web_errors.wants_html(request):
        return web_errors.error_page(request, status, code, message)
    return _error(status, code, message, details)


def _install_error_handlers(app: FastAPI) -> None:
    """Every failure leaves as the one JSON error shape."""

    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, _exc: LoginRequired) -> Response:
        return web_errors.to_login(request)

    @app.exception_handler(VrmError)
    async def vrm_error(request: Request, exc: VrmError) -> Response:
        response = _answer(request, exc.status, exc.code, exc.message, exc.details)
        if exc.status == 401:
            response.headers["WWW-Authenticate"] = "Bearer"
        if exc.retry_after_s is not None:
            response.headers["Retry-After"] = str(exc.retry_after_s)
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        errors = [_clean_validation_error(e) for e in exc.errors()]
        if errors and all(_is_bad_path_id(e) for e in errors):
            return _answer(request, 404, "not_found", "no object has this id (ids are UUIDs)")
        first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
        where = ".".join(str(p) for p in first["loc"] if p != "body") or "request"
        message = f"{where}: {first['msg']}"
        return _answer(request, 422, "validation_error", message, {"errors": errors})

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        response = _answer(request, exc.status_code, code, str(exc.detail))
        response.headers.update(exc.headers or {})
        return response

    @app.exception_handler(OperationalError)
    async def database_trouble(request: Request, exc: OperationalError) -> Response:
        # Locked by another process past the busy timeout, or the server went away.
        log.warning("database error on %s %s: %s", request.method, request.url.path, exc.orig)
        busy = Overloaded(
            "the database cannot serve this now; try again", code="database_busy", retry_after_s=1
        )
        return await vrm_error(request, busy)

    @app.exception_handler(PoolTimeout)
    async def no_connection(request: Request, exc: PoolTimeout) -> Response:
        # Cannot happen while the pool is sized as db_pool_size() says; never hang for it.
        log.error("no database connection for %s %s: %s", request.method, request.url.path, exc)
        busy = Overloaded("no database connection free; try again", retry_after_s=1)
        return await vrm_error(request, busy)

    @app.exception_handler(DataError)
    async def bad_value(request: Request, exc: DataError) -> Response:
        # The database refused a value validation let through (e.g. out of its range).
        log.warning("data error on %s %s: %s", request.method, request.url.path, exc.orig)
        return _answer(request, 422, "invalid_value", "a value is not acceptable to the database")

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return _answer(
            request, 500, "internal_error", "internal error; the VRM log has the details"
        )


def _clean_validation_error(error: Any) -> dict[str, Any]:
    """A pydantic error without its input echo or Python objects in ``ctx``."""
    cleaned = {
        "loc": list(error.get("loc", ())),
        "msg": error.get("msg", ""),
        "type": error.get("type", ""),
    }
    return cleaned


def _is_bad_path_id(error: dict[str, Any]) -> bool:
    """A malformed id in the URL path: the object cannot exist, so 404, not 422."""
    return bool(error["loc"][:1] == ["path"] and str(error["type"]).startswith("uuid"))
