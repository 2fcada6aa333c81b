"""The ``/api/v1`` router: every domain router, authenticated except the token endpoint."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from vrm.agents.router import agents_router, tokens_router
from vrm.auth.router import router as auth_router
from vrm.clusters.router import router as clusters_router
from vrm.deps import get_principal
from vrm.errors import Unauthorized, error_responses
from vrm.events.router import router as events_router
from vrm.hosts.router import router as hosts_router
from vrm.load.router import router as load_router
from vrm.network.router import router as network_router
from vrm.scheduler.router import router as placement_rules_router
from vrm.sites.router import router as sites_router
from vrm.storage.router import router as storage_router
from vrm.tasks.router import router as tasks_router
from vrm.users.router import router as users_router
from vrm.vms.router import router as vms_router

api_router = APIRouter()
api_router.include_router(auth_router)
# Agents authenticate with their own credentials, not with a user's token.
api_router.include_router(agents_router)

_protected = APIRouter(
    dependencies=[Depends(get_principal)], responses=error_responses(Unauthorized)
)
for _router in (
    sites_router,
    clusters_router,
    hosts_router,
    storage_router,
    network_router,
    placement_rules_router,
    tasks_router,
    events_router,
    users_router,
    tokens_router,
    vms_router,
    load_router,
):
    _protected.include_router(_router)
api_router.include_router(_protected)
