"""``/api/v1/dvs``, ``/api/v1/port-groups`` and ``/api/v1/ip-pools``."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["network"])
