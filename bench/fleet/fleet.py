"""A whole run: enroll, beat, and report with the generator's own memory peak."""

from __future__ import annotations

import resource
import sys
from dataclasses import dataclass

import httpx

from .calls import Clients
from .config import FleetConfig
from .enroll import EnrollReport, enroll_hosts
from .load import BeatReport, beat


@dataclass(frozen=True, slots=True)
class FleetReport:
    """What a run did and measured."""

    url: str
    cluster: str
    cluster_id: str
    prefix: str
    enroll: EnrollReport
    beat: BeatReport
    max_rss_mib: float


def max_rss_mib() -> float:
    """Peak resident memory of this process so far, in MiB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes.
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


async def run_fleet(
    config: FleetConfig, *, transport: httpx.AsyncBaseTransport | None = None
) -> FleetReport:
    """Enroll ``config.hosts`` hosts, beat for ``config.duration_s`` seconds, report."""
    async with Clients(config, transport=transport) as clients:
        fleet = await enroll_hosts(clients, config)
        beats = await beat(clients, fleet, config)
    return FleetReport(
        url=config.url,
        cluster=config.cluster,
        cluster_id=fleet.cluster_id,
        prefix=config.prefix,
        enroll=fleet.report,
        beat=beats,
        max_rss_mib=max_rss_mib(),
    )
