"""A run's report as text for people and as JSON for tools."""

from __future__ import annotations

import dataclasses
import json

from .enroll import EnrollReport
from .fleet import FleetReport
from .load import BeatReport
from .stats import RequestStats

# Beyond these, the generator itself explains part of the latency.
LAG_WARNING_MS = 50.0
CPU_WARNING_PERCENT = 80.0


def to_json(report: FleetReport) -> str:
    """The whole report as indented JSON."""
    return json.dumps(dataclasses.asdict(report), indent=2, default=str)


def format_report(report: FleetReport) -> str:
    """The summary printed at the end of a run."""
    lines = [f"fleet {report.prefix} -> {report.url}, cluster {report.cluster}"]
    lines += _enroll_lines(report.enroll)
    lines += _beat_lines(report.beat)
    lines.append(f"generator max RSS: {report.max_rss_mib:.1f} MiB")
    return "\n".join(lines)


def _enroll_lines(enroll: EnrollReport) -> list[str]:
    lines = [
        f"enroll: {enroll.enrolled}/{enroll.requested} hosts in {enroll.duration_s:.1f} s, "
        f"{enroll.retries} retries after 503/429"
    ]
    lines += _stats_lines("  tokens", enroll.tokens)
    lines += _stats_lines("  enroll", enroll.enrolls)
    if enroll.failures:
        lines.append(f"  failed hosts: {_counts(enroll.failures)}")
        lines.append(f"  first failure: {enroll.first_failure}")
    return lines


def _beat_lines(beat: BeatReport) -> list[str]:
    lines = [
        f"beats: mode {beat.mode}, {beat.hosts} hosts, {beat.duration_s:.1f} s, "
        f"{beat.offered} offered, {beat.dropped} dropped by generator, "
        f"{beat.throttled_waits} Retry-After waits, {beat.backoffs} backoffs",
        f"  generator: {beat.cpu_percent:.0f}% of a CPU; lateness ms p50 {beat.lag.p50_ms:.1f} "
        f"p99 {beat.lag.p99_ms:.1f} max {beat.lag.max_ms:.1f}",
    ]
    lines += _stats_lines("  heartbeats", beat.beats)
    if beat.probe is not None:
        lines += _stats_lines("  probe GET /hosts", beat.probe)
    if beat.lag.p99_ms > LAG_WARNING_MS or beat.cpu_percent > CPU_WARNING_PERCENT:
        lines.append("  warning: the generator was short of CPU; latencies include its own delay")
    return lines


def _stats_lines(title: str, stats: RequestStats) -> list[str]:
    lat = stats.latency
    return [
        f"{title}: {stats.count} requests, {stats.rate_per_s:.1f}/s; latency ms "
        f"p50 {lat.p50_ms:.1f} p90 {lat.p90_ms:.1f} p99 {lat.p99_ms:.1f} max {lat.max_ms:.1f}",
        f"{' ' * len(title)}  statuses {_counts(stats.statuses)}; timeouts {stats.timeouts}; "
        f"errors {_counts(stats.errors)}",
    ]


def _counts(counts: dict[int, int] | dict[str, int]) -> str:
    """``{200: 5, 503: 1}`` as ``200=5 503=1``; ``none`` when empty."""
    return " ".join(f"{key}={value}" for key, value in counts.items()) or "none"
