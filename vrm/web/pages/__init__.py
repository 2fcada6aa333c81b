"""The WebUI's pages, one module per area; ``ROUTERS`` lists them for the app.

Order matters where paths overlap: ``/vms/new`` comes before ``/vms/{vm_id}``.
"""

from __future__ import annotations

from fastapi import APIRouter

from vrm.web.pages import (
    clusters,
    consoles,
    dashboard,
    events,
    hosts,
    networks,
    storage,
    tasks,
    users,
    vm_create,
    vm_detail,
    vms,
)

ROUTERS: tuple[APIRouter, ...] = (
    dashboard.router,
    vms.router,
    vm_create.router,
    consoles.router,
    vm_detail.router,
    tasks.router,
    hosts.router,
    clusters.router,
    networks.router,
    storage.router,
    events.router,
    users.router,
)
