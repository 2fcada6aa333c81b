"""``/api/v1/sites``."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/sites", tags=["sites"])
