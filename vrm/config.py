"""VRM settings: every knob is an environment variable with the ``VRM_`` prefix."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SECRET = "openvrm-development-secret-change-me"


class Settings(BaseSettings):
    """Settings of one VRM process."""

    model_config = SettingsConfigDict(env_prefix="VRM_", extra="ignore")

    env: Literal["development", "production"] = "development"
    database_url: str = "sqlite:///./var/vrm.db"
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    secret_key: str = DEFAULT_SECRET
    admin_password: str | None = None
    access_token_ttl_s: int = Field(default=8 * 3600, ge=60)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    # A host without a heartbeat for this long is marked ``fault``.
    host_fault_after: float = Field(default=30.0, gt=0)
    # How often the periodic jobs (host liveness, ...) run.
    jobs_interval_s: float = Field(default=5.0, gt=0)
    # Time limit of one VRM -> agent call.
    agent_timeout_s: float = Field(default=30.0, gt=0)
    # Task engine: parallel tasks per VRM process, attempts before a transient failure is
    # final, and how long a running task's worker may stay silent before another takes over.
    task_workers: int = Field(default=4, ge=1, le=64)
    task_max_attempts: int = Field(default=5, ge=1, le=100)
    task_stale_after_s: float = Field(default=30.0, gt=0)
    # Lifetime of an enrollment token unless the request names one.
    enrollment_token_ttl_s: int = Field(default=24 * 3600, ge=60)
    # First octets (1 to 5) of the MACs VRM gives NICs; the rest is random and unique.
    mac_prefix: str = Field(default="02:4f:56", pattern=r"^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){0,4}$")
    # Images larger than this are refused (uploads, URL and path imports, exports).
    image_max_mib: int = Field(default=64 * 1024, ge=1)
    # Load: requests that may work on the database at once (each holds one connection
    # and at most one thread), how many more may wait for a turn and for how long before
    # they get 503 with Retry-After. The connection pool and the thread pool are sized
    # from these, so a request that holds a connection never waits for a thread.
    db_concurrency: int = Field(default=8, ge=1, le=256)
    request_queue: int = Field(default=256, ge=0, le=100_000)
    request_queue_timeout_s: float = Field(default=3.0, gt=0, le=60)
    # Heartbeats are recorded in memory and written in one transaction this often.
    heartbeat_flush_s: float = Field(default=1.0, gt=0, le=10)
    # When VRM's event loop runs this late, VRM is overloaded: it sheds heartbeats (503)
    # and does not count the time towards any host's silence.
    overload_lag_s: float = Field(default=0.5, gt=0, le=30)
    # How often the WebUI's change feed looks for changes while a page listens.
    ui_feed_interval_s: float = Field(default=0.5, gt=0, le=10)
    # Migrations at once per host, leaving and arriving (as oVirt's defaults).
    migration_max_outgoing: int = Field(default=2, ge=1, le=32)
    migration_max_incoming: int = Field(default=2, ge=1, le=32)
    # How the source node's libvirt reaches the target's ("{address}" = the target
    # host's address): TLS in production; the test lab uses qemu+tcp.
    migration_libvirt_uri: str = Field(
        default="qemu+tls://{address}/system", pattern=r"^qemu\+[a-z]+://.*\{address\}.*$"
    )
    # The migration stream's URI on the target (explicit, so QEMU never uses a hostname).
    migration_uri: str = Field(default="tcp://{address}", pattern=r"^tcp://.*\{address\}.*$")
    # A live migration is aborted after this long per GiB of memory (plus disks copied),
    # and never before the minimum.
    migration_timeout_s_per_gib: float = Field(default=120.0, gt=0, le=3600)
    migration_min_timeout_s: float = Field(default=300.0, gt=0, le=86_400)

    @field_validator("mac_prefix")
    @classmethod
    def _unicast_prefix(cls, value: str) -> str:
        if int(value[:2], 16) & 1:
            raise ValueError("VRM_MAC_PREFIX must start with a unicast octet (lowest bit 0)")
        return value.lower()

    @model_validator(mode="after")
    def _refuse_default_secret(self) -> Settings:
        if self.env != "development" and self.secret_key == DEFAULT_SECRET:
            raise ValueError(
                "VRM_SECRET_KEY is still the development default; "
                "set a long random value before running with VRM_ENV=production"
            )
        if self.env != "development" and len(self.secret_key) < 32:
            raise ValueError("VRM_SECRET_KEY must be at least 32 characters in production")
        return self


@lru_cache
def get_settings() -> Settings:
    """Return the process-wide settings, read once from the environment."""
    return Settings()


# Threads that hold database connections besides requests: the task worker's dispatcher
# and keep-alive loops, the periodic jobs, the write-behind thread, and one spare.
BACKGROUND_CONNECTIONS = 4
# Threads for sync endpoints that do not use the database (probes, static pages).
SPARE_THREADS = 16


def db_pool_size(settings: Settings) -> int:
    """Connections one VRM process needs: one per turn, per task worker, per background loop."""
    return settings.db_concurrency + settings.task_workers + BACKGROUND_CONNECTIONS


def thread_pool_size(settings: Settings) -> int:
    """Request threads: one per database turn, plus spares for work without the database."""
    return settings.db_concurrency + SPARE_THREADS


def heartbeat_retry_after_s(settings: Settings) -> int:
    """``Retry-After`` for a shed heartbeat: an agent that waits it (plus up to one period)
    still reports well within ``VRM_HOST_FAULT_AFTER``."""
    return max(1, min(10, int(settings.host_fault_after / 3)))
