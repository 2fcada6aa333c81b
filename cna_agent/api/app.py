"""The agent's FastAPI application."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from cna_agent import __version__
from cna_agent.api import host, images, migration, network, operations, storage, vms
from cna_agent.api.deps import IdentitySource, require_vrm
from cna_agent.errors import AgentError
from cna_agent.node import Node
from cna_agent.protocol.consoles import CONSOLE_WS_PATH

log = logging.getLogger(__name__)


def create_app(node: Node, identity: IdentitySource) -> FastAPI:
    """The API over ``node``; ``identity`` gives the current enrollment (None before)."""
    app = FastAPI(
        title="OpenVRM CNA agent",
        version=__version__,
        openapi_url="/v1/openapi.json",
        docs_url=None,
        redoc_url=None,
    )
    app.state.node = node
    app.state.identity = identity
    v1 = APIRouter(prefix="/v1", dependencies=[Depends(require_vrm)])
    for module in (host, migration, vms, storage, images, network, operations):
        v1.include_router(module.router)
    app.include_router(v1)
    # Not under require_vrm (it takes a Request): the relay checks the credential itself.
    app.add_api_websocket_route(CONSOLE_WS_PATH, vms.console_relay)
    app.add_api_route("/healthz", _healthz, methods=["GET"])
    _install_error_handlers(app)
    return app


def _healthz() -> dict[str, str]:
    """Liveness of the agent process."""
    return {"status": "ok"}


def _json(status: int, code: str, message: str, details: object = None) -> JSONResponse:
    body = {"error": {"code": code, "message": message, "details": details or {}}}
    return JSONResponse(status_code=status, content=jsonable_encoder(body))


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(AgentError)
    async def agent_error(_request: Request, exc: AgentError) -> JSONResponse:
        return JSONResponse(status_code=exc.status, content=jsonable_encoder(exc.body()))

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
        where = ".".join(str(p) for p in errors[0]["loc"] if p != "body") if errors else "request"
        message = f"{where}: {errors[0]['msg']}" if errors else "invalid request"
        return _json(422, "invalid_spec", message, {"errors": errors, "retryable": False})

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _json(exc.status_code, f"http_{exc.status_code}", str(exc.detail))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return _json(
            500, "agent_error", "internal agent error; see the agent log", {"retryable": False}
        )
