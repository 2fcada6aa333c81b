"""Agent settings: every knob is an environment variable with the ``CNA_`` prefix."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Settings of one CNA agent process."""

    model_config = SettingsConfigDict(env_prefix="CNA_", extra="ignore")

    vrm_url: str | None = None
    enroll_token: str | None = None
    libvirt_uri: str = "qemu:///system"
    domain_type: Literal["auto", "kvm", "qemu"] = "auto"
    state_dir: Path = Path("/var/lib/openvrm-cna")
    # The local datastore's libvirt pool, created under state_dir on first start.
    default_pool: str = Field(default="openvrm-local", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    # Where the local datastore's files live (default: <state_dir>/pools/<default_pool>).
    # QEMU runs as its own user, so every folder on the way must be traversable by it.
    pool_dir: Path | None = None
    # The host's name in VRM; default: the node's hostname.
    hostname: str | None = Field(default=None, min_length=1, max_length=255)
    listen: str = "0.0.0.0:7070"
    # Address VRM (and VNC clients through VRM) use to reach this node; default: guessed.
    management_address: str | None = None
    # URL VRM uses to call this agent; default: http://<management_address>:<listen port>.
    advertise_url: str | None = None
    heartbeat_s: float = Field(default=10.0, gt=0)
    # Each heartbeat period varies by up to this fraction either way, so that agents
    # started together (or a fleet after a VRM restart) drift apart.
    heartbeat_jitter: float = Field(default=0.1, ge=0, lt=1)
    # Longest wait between heartbeats while VRM is unreachable; default: 3 x CNA_HEARTBEAT_S.
    heartbeat_backoff_max_s: float | None = Field(default=None, gt=0)
    # How long one heartbeat may take before it counts as failed.
    heartbeat_timeout_s: float = Field(default=10.0, gt=0, le=120)
    stats_s: float = Field(default=30.0, gt=0)
    log_level: Literal["debug", "info", "warning", "error"] = "info"


@lru_cache
def get_settings() -> Settings:
    """Return the process-wide settings, read once from the environment."""
    return Settings()
