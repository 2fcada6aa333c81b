"""``/api/v1/datastores`` and ``/api/v1/volumes``."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["datastores"])
