"""Heartbeat load generator: many simulated CNA agents in one asyncio process.

Enrolls ``--hosts`` hosts through VRM's real API, then sends heartbeats, either paced
like agents (``--mode agents``: every ``--period`` s, random phase, jitter, Retry-After
obeyed) or open loop (``--mode rate``: ``--rate`` beats/s, at most ``--max-inflight``
requests out). It reports latency percentiles, statuses, timeouts, transport errors and
its own peak memory. It only talks to a loopback URL.

    .venv/bin/python -m bench.fleet --url http://127.0.0.1:8765 --password PW --hosts 50
    .venv/bin/python -m bench.fleet --password PW --hosts 1000 --mode rate --rate 500 --probe

Programmatically: ``await run_fleet(FleetConfig(...))``, or ``enroll_hosts`` once and
``beat`` in several phases over one ``Clients``.

The generator's own limits, measured against ``bench.fleet.sink`` on a 2-CPU machine:
about 900 beats/s open loop (p99 under 50 ms; beyond that its own queueing dominates),
and 50-80 MiB peak RSS for 1,000 hosts. Requests are spread over many small connection
pools (see ``Clients``) because one large httpcore pool did O(connections) work per
request and capped it near 350/s. The report shows its CPU use and lateness, and warns
when they mean the latencies are partly its own.
"""

from .calls import Clients, FleetError
from .config import FleetConfig, Mode
from .enroll import EnrollReport, Fleet, enroll_hosts
from .fleet import FleetReport, run_fleet
from .load import BeatReport, beat
from .stats import LatencySummary, RequestStats, percentile

__all__ = [
    "BeatReport",
    "Clients",
    "EnrollReport",
    "Fleet",
    "FleetConfig",
    "FleetError",
    "FleetReport",
    "LatencySummary",
    "Mode",
    "RequestStats",
    "beat",
    "enroll_hosts",
    "percentile",
    "run_fleet",
]
