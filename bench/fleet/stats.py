"""Recording requests as they finish, and summing them up: counts, rates, percentiles."""

from __future__ import annotations

import math
from array import array
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field


def percentile(ordered: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) of sorted values, interpolated linearly; 0 if empty."""
    if not 0 <= q <= 100:
        raise ValueError(f"a percentile is in [0, 100], not {q}")
    if not ordered:
        return 0.0
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True, slots=True)
class LatencySummary:
    """Latency of the answered requests, in milliseconds."""

    count: int
    mean_ms: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float


def summarize_latency(values_ms: Sequence[float]) -> LatencySummary:
    """Mean, p50/p90/p99 and max of ``values_ms``."""
    ordered = sorted(values_ms)
    mean = sum(ordered) / len(ordered) if ordered else 0.0
    return LatencySummary(
        count=len(ordered),
        mean_ms=mean,
        p50_ms=percentile(ordered, 50),
        p90_ms=percentile(ordered, 90),
        p99_ms=percentile(ordered, 99),
        max_ms=ordered[-1] if ordered else 0.0,
    )


@dataclass(frozen=True, slots=True)
class RequestStats:
    """One kind of request over one phase: ``count`` = answered + timeouts + errors."""

    count: int
    rate_per_s: float
    latency: LatencySummary
    statuses: dict[int, int]
    timeouts: int
    errors: dict[str, int]

    @property
    def answered(self) -> int:
        """Requests that got an HTTP answer, whatever its status."""
        return sum(self.statuses.values())

    def only(self, status: int = 200) -> bool:
        """Whether there was at least one request and every one was answered ``status``."""
        return self.count > 0 and self.statuses == {status: self.count}


@dataclass(slots=True)
class Recorder:
    """Collects outcomes as they happen; cheap enough to call on every request."""

    # Latencies of answered requests, in ms (8 bytes each, not a float object each).
    latencies_ms: array[float] = field(default_factory=lambda: array("d"))
    statuses: Counter[int] = field(default_factory=Counter)
    timeouts: int = 0
    errors: Counter[str] = field(default_factory=Counter)

    @property
    def count(self) -> int:
        """Requests finished so far, however they ended."""
        return len(self.latencies_ms) + self.timeouts + sum(self.errors.values())

    def answered(self, status: int, latency_ms: float) -> None:
        """An HTTP answer arrived ``latency_ms`` after the request was sent."""
        self.latencies_ms.append(latency_ms)
        self.statuses[status] += 1

    def timed_out(self) -> None:
        """No answer within the request timeout."""
        self.timeouts += 1

    def failed(self, kind: str) -> None:
        """A transport error (refused, reset, ...), by exception class name."""
        self.errors[kind] += 1

    def stats(self, duration_s: float) -> RequestStats:
        """What was recorded, with the rate over ``duration_s``."""
        count = self.count
        return RequestStats(
            count=count,
            rate_per_s=count / duration_s if duration_s > 0 else 0.0,
            latency=summarize_latency(self.latencies_ms),
            statuses=dict(sorted(self.statuses.items())),
            timeouts=self.timeouts,
            errors=dict(sorted(self.errors.items())),
        )
