"""The heartbeat load generator's own logic, against a fake VRM on ``httpx.MockTransport``.

No server and no sockets; timings are only ever checked as lower bounds.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from bench.fleet import (
    BeatReport,
    Clients,
    Fleet,
    FleetConfig,
    FleetError,
    Mode,
    beat,
    enroll_hosts,
    percentile,
    run_fleet,
)
from bench.fleet.calls import retry_after_s
from bench.fleet.report import format_report, to_json
from bench.fleet.stats import Recorder, summarize_latency
from bench.fleet.wire import fill, heartbeat_template
from cna_agent.protocol import DomainState, EnrollRequest, EnrollResponse, Heartbeat

URL = "http://127.0.0.1:8765"
CLUSTER_ID = uuid.UUID("00000000-0000-4000-8000-00000000c105")
# What the fake answers a heartbeat: status and headers, from (host id, beat number).
BeatAnswer = Callable[[uuid.UUID, int], httpx.Response]


def _ok(_host: uuid.UUID, _n: int) -> httpx.Response:
    return httpx.Response(200, json={"host_state": "normal"})


@dataclass
class FakeVrm:
    """Just enough of VRM's API; checks that every body is a real protocol message."""

    on_beat: BeatAnswer = _ok
    throttle_first_enroll: bool = True
    conflict_hostnames: frozenset[str] = frozenset()
    credentials: dict[uuid.UUID, str] = field(default_factory=dict)
    beats: dict[uuid.UUID, list[float]] = field(default_factory=lambda: defaultdict(list))
    tokens: int = 0
    enroll_calls: int = 0
    probes: int = 0

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        """Route ``request`` as VRM would."""
        path, method = request.url.path, request.method
        if path == "/api/v1/auth/token":
            return self._login(request)
        if path == "/api/v1/clusters":
            return self._clusters(method)
        if path == "/api/v1/enrollment-tokens":
            return self._token(request)
        if path == "/api/v1/agents/enroll":
            return self._enroll(request)
        if path == "/api/v1/hosts":
            self.probes += 1
            return httpx.Response(200, json={"items": [], "total": 0})
        return await self._heartbeat(request)

    def _login(self, request: httpx.Request) -> httpx.Response:
        if b"password=pw" not in request.content:
            return httpx.Response(401, json={"error": {"code": "bad_login", "message": "no"}})
        return httpx.Response(200, json={"access_token": "admin-token"})

    def _clusters(self, method: str) -> httpx.Response:
        if method == "GET":
            return httpx.Response(200, json={"items": [], "total": 0})
        return httpx.Response(201, json={"id": str(CLUSTER_ID), "name": "fleet"})

    def _token(self, request: httpx.Request) -> httpx.Response:
        assert request.headers["authorization"] == "Bearer admin-token"
        assert json.loads(request.content) == {"cluster_id": str(CLUSTER_ID)}
        self.tokens += 1
        return httpx.Response(201, json={"token": f"token-{self.tokens}"})

    def _enroll(self, request: httpx.Request) -> httpx.Response:
        self.enroll_calls += 1
        if self.throttle_first_enroll and self.enroll_calls == 1:
            return httpx.Response(503, headers={"Retry-After": "0"})
        body = EnrollRequest.model_validate_json(request.content)
        if body.facts.hostname in self.conflict_hostnames:
            return httpx.Response(409, json={"error": {"code": "conflict", "message": "taken"}})
        host_id = uuid.uuid4()
        self.credentials[host_id] = f"cred-{host_id.hex}"
        answer = EnrollResponse(
            host_id=host_id,
            cluster_id=CLUSTER_ID,
            host_credential=self.credentials[host_id],
            vrm_credential="vrm",
        )
        return httpx.Response(201, content=answer.model_dump_json())

    async def _heartbeat(self, request: httpx.Request) -> httpx.Response:
        host_id = uuid.UUID(request.url.path.split("/")[4])
        if request.headers["authorization"] != f"Bearer {self.credentials[host_id]}":
            return httpx.Response(401)
        Heartbeat.model_validate_json(request.content)
        self.beats[host_id].append(time.monotonic())
        return self.on_beat(host_id, len(self.beats[host_id]))


def _config(**changes: object) -> FleetConfig:
    """A small, fast, seeded run against the fake."""
    base = FleetConfig(
        url=URL, password="pw", hosts=4, domains=3, period_s=0.05, duration_s=0.3, seed=7
    )
    return replace(base, **changes)  # type: ignore[arg-type]


async def _enrolled(fake: FakeVrm, config: FleetConfig) -> tuple[Clients, Fleet]:
    clients = Clients(config, transport=httpx.MockTransport(fake))
    return clients, await enroll_hosts(clients, config)


# --- statistics -----------------------------------------------------------------------


def test_percentile_interpolates_between_ranks() -> None:
    values = [1.0, 2.0, 3.0, 4.0]
    assert percentile(values, 0) == 1.0
    assert percentile(values, 50) == 2.5
    assert percentile(values, 100) == 4.0
    assert percentile([7.0], 99) == 7.0
    assert percentile([], 50) == 0.0


def test_percentile_refuses_out_of_range() -> None:
    with pytest.raises(ValueError, match="percentile"):
        percentile([1.0], 101)


def test_latency_summary_of_one_to_hundred() -> None:
    summary = summarize_latency([float(v) for v in range(100, 0, -1)])
    assert summary.count == 100
    assert summary.p50_ms == pytest.approx(50.5)
    assert summary.p90_ms == pytest.approx(90.1)
    assert summary.p99_ms == pytest.approx(99.01)
    assert summary.max_ms == 100.0
    assert summary.mean_ms == pytest.approx(50.5)


def test_recorder_counts_every_outcome() -> None:
    recorder = Recorder()
    for status, ms in ((200, 5.0), (200, 7.0), (503, 1.0)):
        recorder.answered(status, ms)
    recorder.timed_out()
    recorder.failed("ConnectError")
    stats = recorder.stats(duration_s=2.0)
    assert (stats.count, stats.answered, stats.rate_per_s) == (5, 3, 2.5)
    assert stats.statuses == {200: 2, 503: 1}
    assert (stats.timeouts, stats.errors) == (1, {"ConnectError": 1})
    assert stats.latency.max_ms == 7.0
    assert not stats.only(200)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("2", 2.0), ("0.5", 0.5), ("0", 0.0), ("-1", None), ("inf", None), ("soon", None)],
)
def test_retry_after_seconds(value: str, expected: float | None) -> None:
    assert retry_after_s(httpx.Response(503, headers={"Retry-After": value})) == expected


def test_retry_after_http_date() -> None:
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    earlier = format_datetime(datetime.now(UTC) - timedelta(seconds=30), usegmt=True)
    assert 20 < (retry_after_s(httpx.Response(503, headers={"Retry-After": later})) or 0) <= 30
    assert retry_after_s(httpx.Response(503, headers={"Retry-After": earlier})) == 0.0
    assert retry_after_s(httpx.Response(503)) is None


# --- configuration and bodies ------------------------------------------------------------


@pytest.mark.parametrize("url", ["http://10.0.0.1:8000", "http://example.com", "ftp://127.0.0.1"])
def test_only_loopback_urls(url: str) -> None:
    with pytest.raises(ValueError, match="loopback|http"):
        FleetConfig(url=url)


def test_loopback_urls_are_accepted() -> None:
    for url in ("http://localhost:8000", "http://127.0.0.1:1", "http://[::1]:8000"):
        assert FleetConfig(url=url).url == url


def test_heartbeat_template_is_a_real_heartbeat_stamped_on_demand() -> None:
    now = datetime(2026, 12, 1, 12, 30, tzinfo=UTC)
    beat_ = Heartbeat.model_validate_json(fill(heartbeat_template("node-00001", 4), now))
    assert beat_.sent_at == now == beat_.usage.sampled_at
    assert [d.state for d in beat_.domains] == [DomainState.RUNNING] * 4
    again = Heartbeat.model_validate_json(fill(heartbeat_template("node-00001", 4), now))
    assert [d.uuid for d in again.domains] == [d.uuid for d in beat_.domains]
    other = Heartbeat.model_validate_json(fill(heartbeat_template("node-00002", 4), now))
    assert {d.uuid for d in other.domains}.isdisjoint(d.uuid for d in beat_.domains)


# --- enrollment -----------------------------------------------------------------------


def test_enrollment_retries_after_503_and_gives_each_host_an_identity() -> None:
    fake = FakeVrm()

    async def scenario() -> Fleet:
        clients, fleet = await _enrolled(fake, _config())
        await clients.aclose()
        return fleet

    fleet = asyncio.run(scenario())
    report = fleet.report
    assert (report.requested, report.enrolled, report.retries) == (4, 4, 1)
    assert report.enrolls.statuses == {201: 4, 503: 1}
    assert report.tokens.only(201)
    assert report.enrolls.latency.count == 5
    assert {h.host_id for h in fleet.hosts} == set(fake.credentials)
    assert len({h.hostname for h in fleet.hosts}) == 4


def test_a_host_that_cannot_enroll_is_counted_not_fatal() -> None:
    config = _config()
    fake = FakeVrm(conflict_hostnames=frozenset({f"{config.prefix}-00002"}))
    report = asyncio.run(run_fleet(replace(config, duration_s=0), transport=_mock(fake)))
    assert (report.enroll.enrolled, report.enroll.failures) == (3, {"enroll: HTTP 409 conflict": 1})
    assert report.enroll.first_failure is not None
    assert "taken" in report.enroll.first_failure


def test_a_busy_login_is_retried() -> None:
    fake = FakeVrm()
    busy = [httpx.Response(503, headers={"Retry-After": "0"})]

    async def busy_once(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v1/auth/token" and busy:
            return busy.pop()
        return await fake(request)

    config = _config(duration_s=0)
    report = asyncio.run(run_fleet(config, transport=httpx.MockTransport(busy_once)))
    assert (busy, report.enroll.enrolled) == ([], 4)


def test_a_refused_login_ends_the_run() -> None:
    with pytest.raises(FleetError, match="login"):
        asyncio.run(run_fleet(_config(password="wrong"), transport=_mock(FakeVrm())))


# --- heartbeats -----------------------------------------------------------------------


def _mock(fake: FakeVrm) -> httpx.MockTransport:
    return httpx.MockTransport(fake)


def _phases(fake: FakeVrm, config: FleetConfig, *phases: FleetConfig) -> list[BeatReport]:
    """Enroll once with ``config``, then beat once per phase."""

    async def scenario() -> list[BeatReport]:
        clients, fleet = await _enrolled(fake, config)
        async with clients:
            return [await beat(clients, fleet, phase) for phase in phases]

    return asyncio.run(scenario())


def test_agents_mode_beats_every_host_with_its_own_credential() -> None:
    fake = FakeVrm()
    config = _config()
    (report,) = _phases(fake, config, config)
    assert report.mode == Mode.AGENTS
    assert report.beats.only(200)
    assert report.offered == report.beats.count == report.beats.latency.count
    assert (report.dropped, report.throttled_waits, report.backoffs) == (0, 0, 0)
    assert len(fake.beats) == 4
    assert all(len(times) >= 2 for times in fake.beats.values())


def test_agents_wait_out_retry_after() -> None:
    def first_throttled(_host: uuid.UUID, n: int) -> httpx.Response:
        if n == 1:
            return httpx.Response(503, headers={"Retry-After": "0.2"})
        return httpx.Response(200, json={"host_state": "normal"})

    fake = FakeVrm(on_beat=first_throttled)
    config = _config(period_s=0.02, jitter=0.0, duration_s=0.5)
    (report,) = _phases(fake, config, config)
    assert report.beats.statuses[503] == 4
    assert report.throttled_waits == 4
    for times in fake.beats.values():
        assert len(times) >= 2
        assert times[1] - times[0] >= 0.2


def test_failures_back_off_and_are_counted_by_kind() -> None:
    def refused(_host: uuid.UUID, _n: int) -> httpx.Response:
        raise httpx.ConnectError("refused")

    fake = FakeVrm(on_beat=refused)
    config = _config()
    (report,) = _phases(fake, config, config)
    assert report.beats.errors == {"ConnectError": report.beats.count}
    assert report.beats.statuses == {}
    assert report.backoffs == report.beats.count > 0


def test_rate_mode_spreads_beats_round_robin() -> None:
    fake = FakeVrm()
    config = _config(hosts=3)
    (report,) = _phases(fake, config, replace(config, mode=Mode.RATE, rate=100, duration_s=0.3))
    assert report.offered == report.beats.count == 30
    assert report.beats.only(200)
    assert sorted(len(t) for t in fake.beats.values()) == [10, 10, 10]


def test_rate_mode_drops_beats_beyond_max_inflight_and_times_out_slow_answers() -> None:
    async def stuck(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/heartbeat"):
            await asyncio.sleep(5)
        return await fake(request)

    fake = FakeVrm()
    config = _config(mode=Mode.RATE, rate=50, duration_s=0.2, max_inflight=2, timeout_s=0.6)

    async def scenario() -> BeatReport:
        clients = Clients(config, transport=httpx.MockTransport(stuck))
        async with clients:
            return await beat(clients, await enroll_hosts(clients, config), config)

    report = asyncio.run(scenario())
    assert report.offered == 10
    assert (report.beats.count, report.beats.timeouts, report.dropped) == (2, 2, 8)
    assert report.beats.latency.count == 0


def test_phases_reuse_one_enrollment() -> None:
    fake = FakeVrm()
    config = _config(hosts=2)
    first, second = _phases(
        fake, config, replace(config, duration_s=0.1), replace(config, mode=Mode.RATE, rate=40)
    )
    assert fake.tokens == 2
    assert first.beats.only(200)
    assert second.beats.only(200)
    assert second.offered == 12


def test_run_fleet_probes_and_reports() -> None:
    fake = FakeVrm()
    config = _config(probe=True, probe_interval_s=0.05)
    report = asyncio.run(run_fleet(config, transport=_mock(fake)))
    assert report.beat.probe is not None
    assert report.beat.probe.only(200)
    assert report.beat.probe.count == fake.probes >= 2
    assert report.max_rss_mib > 0
    received = sum(len(times) for times in fake.beats.values())
    assert json.loads(to_json(report))["beat"]["beats"]["statuses"] == {"200": received}
    assert "probe GET /hosts" in format_report(report)
