"""The WebUI's pages, one module per area; ``ROUTERS`` lists them for the app."""

from __future__ import annotations

from fastapi import APIRouter

from vrm.web.pages import dashboard, vms

ROUTERS: tuple[APIRouter, ...] = (dashboard.router, vms.router)
