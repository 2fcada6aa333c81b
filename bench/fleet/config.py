"""What a fleet run does: one frozen, validated ``FleetConfig``."""

from __future__ import annotations

import ipaddress
import secrets
from dataclasses import dataclass, field
from enum import StrEnum

import httpx


class Mode(StrEnum):
    """How heartbeats are paced."""

    # Every host beats every period (random phase, jitter) and obeys Retry-After.
    AGENTS = "agents"
    # Open loop: a fixed rate over all hosts, never waiting for answers.
    RATE = "rate"


def _random_prefix() -> str:
    """A hostname prefix unique to this run, so runs against one database never clash."""
    return f"fleet-{secrets.token_hex(3)}"


@dataclass(frozen=True, slots=True)
class FleetConfig:
    """Everything a run needs; durations in seconds."""

    url: str = "http://127.0.0.1:8000"
    username: str = "admin"
    password: str = ""
    cluster: str = "fleet"
    hosts: int = 50
    domains: int = 10
    mode: Mode = Mode.AGENTS
    period_s: float = 10.0
    jitter: float = 0.1
    rate: float = 100.0
    max_inflight: int = 500
    duration_s: float = 60.0
    timeout_s: float = 10.0
    enroll_concurrency: int = 8
    enroll_attempts: int = 10
    probe: bool = False
    probe_interval_s: float = 0.5
    prefix: str = field(default_factory=_random_prefix)
    seed: int | None = None

    def __post_init__(self) -> None:
        check_loopback(self.url)
        positive = {
            "period_s": self.period_s,
            "rate": self.rate,
            "max_inflight": self.max_inflight,
            "timeout_s": self.timeout_s,
            "enroll_concurrency": self.enroll_concurrency,
            "enroll_attempts": self.enroll_attempts,
            "probe_interval_s": self.probe_interval_s,
        }
        for name, value in positive.items():
            if value <= 0:
                raise ValueError(f"{name} must be positive, not {value}")
        if self.hosts < 0 or self.domains < 0 or self.duration_s < 0:
            raise ValueError("hosts, domains and duration_s cannot be negative")
        if not 0 <= self.jitter < 1:
            raise ValueError(f"jitter is a fraction in [0, 1), not {self.jitter}")


def check_loopback(url: str) -> None:
    """Refuse any URL whose host is not a loopback address: this is a load generator."""
    parsed = httpx.URL(url)
    if parsed.scheme not in ("http", "https"):
        raise ValueError(f"{url!r} is not an http(s) URL")
    host = parsed.host
    if host == "localhost":
        return
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ValueError(f"{url!r} is not on a loopback address; the fleet only loads this machine")
