"""``python -m bench.fleet``: enroll simulated hosts, load VRM with heartbeats, report."""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import sys
from collections.abc import Sequence
from pathlib import Path

from .calls import FleetError
from .config import FleetConfig, Mode
from .fleet import run_fleet
from .report import format_report, to_json


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.fleet", description=__doc__)
    p.add_argument("--url", default="http://127.0.0.1:8000", help="VRM (loopback only)")
    p.add_argument("--username", default="admin")
    p.add_argument("--password", required=True, help="the admin's password")
    p.add_argument("--cluster", default="fleet", help="cluster to enroll into (created)")
    p.add_argument("--hosts", type=int, default=50)
    p.add_argument("--domains", type=int, default=10, help="running domains per heartbeat")
    p.add_argument("--mode", type=Mode, choices=list(Mode), default=Mode.AGENTS)
    p.add_argument("--period", type=float, default=10.0, help="agents mode: seconds")
    p.add_argument("--jitter", type=float, default=0.1, help="fraction of the period")
    p.add_argument("--rate", type=float, default=100.0, help="rate mode: beats per second")
    p.add_argument("--max-inflight", type=int, default=500, help="rate mode: requests out")
    p.add_argument("--duration", type=float, default=60.0, help="seconds of heartbeats")
    p.add_argument("--timeout", type=float, default=10.0, help="per request, seconds")
    p.add_argument("--enroll-concurrency", type=int, default=8)
    p.add_argument("--probe", action="store_true", help="also GET /hosts?limit=1 periodically")
    p.add_argument("--probe-interval", type=float, default=0.5, help="seconds between probes")
    p.add_argument("--prefix", help="hostname prefix (default: fleet-<random>)")
    p.add_argument("--seed", type=int, help="seed of phases and jitter")
    p.add_argument("--json", type=Path, help="also write the report here as JSON")
    return p


def _config(args: argparse.Namespace) -> FleetConfig:
    """The run's config from the command line."""
    extra = {"prefix": args.prefix} if args.prefix else {}
    return FleetConfig(
        url=args.url,
        username=args.username,
        password=args.password,
        cluster=args.cluster,
        hosts=args.hosts,
        domains=args.domains,
        mode=args.mode,
        period_s=args.period,
        jitter=args.jitter,
        rate=args.rate,
        max_inflight=args.max_inflight,
        duration_s=args.duration,
        timeout_s=args.timeout,
        enroll_concurrency=args.enroll_concurrency,
        probe=args.probe,
        probe_interval_s=args.probe_interval,
        seed=args.seed,
        **extra,
    )


def _skip_missing_sniffio() -> None:
    """Make ``import sniffio`` fail fast when it is not installed.

    httpcore tries that import on every request, and a failed import is not cached: the
    path search costs about a tenth of the generator's time per request.
    """
    if importlib.util.find_spec("sniffio") is None:
        sys.modules.setdefault("sniffio", None)  # type: ignore[arg-type]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the fleet once; 1 when it could not start (bad config, login or cluster)."""
    _skip_missing_sniffio()
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        config = _config(args)
    except ValueError as exc:
        parser.error(str(exc))
    try:
        report = asyncio.run(run_fleet(config))
    except FleetError as exc:
        print(f"fleet: {exc}", file=sys.stderr)
        return 1
    print(format_report(report))
    if args.json:
        args.json.write_text(to_json(report) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
