"""The ``/api/v1`` routers: every domain router, authenticated except the token endpoint."""

from __future__ import annotations

from fastapi import Depends, FastAPI

from vrm.agents.router import agents_router, tokens_router
from vrm.auth.router import router as auth_router
from vrm.clusters.router import router as clusters_router
from vrm.consoles.router import router as consoles_router
from vrm.deps import get_principal
from vrm.errors import Unauthorized, error_responses
from vrm.events.router import router as events_router
from vrm.hosts.router import router as hosts_router
from vrm.images.router import router as images_router
from vrm.images.router import streams as image_streams
from vrm.load.router import router as load_router
from vrm.network.router import router as network_router
from vrm.scheduler.router import router as placement_rules_router
from vrm.sites.router import router as sites_router
from vrm.storage.router import router as storage_router
from vrm.tasks.router import router as tasks_router
from vrm.users.router import router as users_router
from vrm.vms.router import router as vms_router

# One flat list: each router is included into the app directly (every level of nesting
# costs route matching on every request), the busiest first.
# Agents authenticate with their own credentials; streams in short sessions of their own;
# the console router checks its callers itself (a console websocket's ticket is its key).
PUBLIC = (auth_router, agents_router, image_streams, consoles_router)
PROTECTED = (
    vms_router,
    hosts_router,
    tasks_router,
    events_router,
    clusters_router,
    storage_router,
    images_router,
    network_router,
    placement_rules_router,
    sites_router,
    users_router,
    tokens_router,
    load_router,
)


def include_api(app: FastAPI, prefix: str) -> None:
    """Mount every ``/api/v1`` router on ``app``; all but the public ones need a user."""
    for router in PUBLIC:
        app.include_router(router, prefix=prefix)
    for router in PROTECTED:
        app.include_router(
            router,
            prefix=prefix,
            dependencies=[Depends(get_principal)],
            responses=error_responses(Unauthorized),
        )
