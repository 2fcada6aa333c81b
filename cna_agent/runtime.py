"""The running agent: enroll once, then serve VRM's commands and send heartbeats."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from cna_agent.clock import utcnow
from cna_agent.config import Settings
from cna_agent.node import Node
from cna_agent.protocol import EnrollRequest, Heartbeat, HostFacts
from cna_agent.state import Identity, hash_credential, load_identity, save_identity
from cna_agent.vrm_link import VrmLink, VrmLinkError

log = logging.getLogger(__name__)

T = TypeVar("T")

# Facts are re-read every this many heartbeats (and sent when they changed).
FACTS_EVERY = 6
# Waits between enrollment attempts while VRM is unreachable: up to 1 s, doubling, at
# most 15 s (full jitter); after a Retry-After, up to 1 s more than VRM asked.
ENROLL_BACKOFF_S = 1.0
ENROLL_BACKOFF_MAX_S = 15.0
# Without CNA_HEARTBEAT_BACKOFF_MAX_S, heartbeats back off to this many periods.
BACKOFF_PERIODS = 3.0
# The connection to VRM is kept this many periods after a heartbeat: to the next one.
KEEPALIVE_PERIODS = 2.0


class NotEnrolled(Exception):
    """The agent cannot work: it has no identity and cannot get one."""


def listen_address(listen: str) -> tuple[str, int]:
    """``host:port`` of CNA_LISTEN."""
    host, _, port = listen.rpartition(":")
    return host or "0.0.0.0", int(port)


def first_delay(period_s: float, rng: random.Random) -> float:
    """How long to wait before the first heartbeat: a random part of one period."""
    return rng.uniform(0.0, period_s)


def next_delay(
    period_s: float,
    rng: random.Random,
    *,
    jitter: float,
    ceiling_s: float,
    failures: int = 0,
    retry_after: float | None = None,
) -> float:
    """How long to wait before the next call to VRM, after ``failures`` failed in a row.

    VRM's ``Retry-After`` is kept, plus a random part of one period (agents VRM shed
    together come back spread over a period); other failures back off exponentially from
    the period with full jitter, up to ``ceiling_s``; otherwise one period, give or take
    ``jitter`` of it.
    """
    if retry_after is not None:
        return retry_after + rng.uniform(0.0, period_s)
    if failures > 0:
        return rng.uniform(0.0, min(ceiling_s, period_s * 2.0 ** min(failures - 1, 32)))
    return period_s * rng.uniform(1.0 - jitter, 1.0 + jitter)


class Agent:
    """One agent process: a node, its identity, its link to VRM, and the heartbeat thread."""

    def __init__(
        self,
        settings: Settings,
        *,
        link: VrmLink | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self.node = Node(settings)
        self.link = link or VrmLink(
            heartbeat_timeout_s=settings.heartbeat_timeout_s,
            keepalive_s=KEEPALIVE_PERIODS * settings.heartbeat_s,
        )
        self.identity: Identity | None = load_identity(settings.state_dir)
        # Seeded from the OS, so agents started together do not draw the same waits.
        self._rng = rng or random.Random()
        self._stop = threading.Event()
        self._beats = 0
        self._sent_facts: HostFacts | None = None

    def advertise_url(self) -> str:
        """The URL VRM uses to call this agent."""
        if self.settings.advertise_url:
            return self.settings.advertise_url.rstrip("/")
        _, port = listen_address(self.settings.listen)
        return f"http://{self.node.management_address()}:{port}"

    def prepare(self) -> None:
        """Create the local datastore (idempotent)."""
        self.node.storage.ensure_pool(self.node.default_pool())

    def ensure_enrolled(self, *, retry_for_s: float = 300) -> Identity:
        """The saved identity, or enroll now with CNA_ENROLL_TOKEN (retrying while VRM is down)."""
        if self.identity is not None:
            return self.identity
        vrm_url, token = self.settings.vrm_url, self.settings.enroll_token
        if not vrm_url or not token:
            raise NotEnrolled("not enrolled yet: give --vrm-url and --enroll-token")
        request = EnrollRequest(
            agent_url=self.advertise_url(),
            address=self.node.management_address(),
            facts=self.node.facts(),
            pools=[self.node.storage.pool(self.node.default_pool().name)],
        )
        answer = _retrying(
            lambda: self.link.enroll(vrm_url, token, request), retry_for_s, self._rng
        )
        self.identity = Identity(
            vrm_url=vrm_url,
            host_id=answer.host_id,
            cluster_id=answer.cluster_id,
            host_credential=answer.host_credential,
            vrm_credential_sha256=hash_credential(answer.vrm_credential),
        )
        save_identity(self.settings.state_dir, self.identity)
        log.info("enrolled as host %s in cluster %s", answer.host_id, answer.cluster_id)
        return self.identity

    def heartbeat_once(self) -> None:
        """Send one heartbeat."""
        identity = self.identity
        if identity is None:
            return
        refresh = self._beats % FACTS_EVERY == 0
        facts = self.node.facts(refresh=refresh)
        beat = Heartbeat(
            sent_at=utcnow(),
            usage=self.node.current_usage(),
            domains=self.node.domains.statuses(),
            pools=self.node.storage.pools(),
            facts=facts if facts != self._sent_facts else None,
        )
        self.link.send_heartbeat(
            identity.vrm_url, str(identity.host_id), identity.host_credential, beat
        )
        self._sent_facts = facts
        self._beats += 1

    def start_loops(self) -> None:
        """Sample statistics every CNA_STATS_S and send heartbeats about every CNA_HEARTBEAT_S."""
        for name, loop in (
            ("cna-stats", self._stats_loop),
            ("cna-heartbeat", self._heartbeat_loop),
        ):
            threading.Thread(target=loop, name=name, daemon=True).start()

    def _stats_loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.node.sample_stats()
            except Exception as exc:  # a failed sample must not end sampling
                log.warning("statistics sample failed: %s", exc)
            self._stop.wait(self.settings.stats_s)

    def stop(self) -> None:
        """Stop the loops and release the link to VRM and the node."""
        self._stop.set()
        self.link.close()
        self.node.close()

    def _heartbeat_loop(self) -> None:
        delay = first_delay(self.settings.heartbeat_s, self._rng)
        failures = 0
        while not self._stop.wait(delay):
            failures, retry_after = self.beat(failures)
            delay = self._next_beat_delay(failures, retry_after)

    def beat(self, failures: int) -> tuple[int, float | None]:
        """One heartbeat after ``failures`` failed; the failures now and VRM's Retry-After."""
        try:
            self.heartbeat_once()
        except Exception as exc:  # keep beating whatever one round hit
            if failures == 0:
                log.warning("heartbeat failed: %s", exc)
            return failures + 1, exc.retry_after if isinstance(exc, VrmLinkError) else None
        if failures:
            log.info("heartbeats reach VRM again")
        return 0, None

    def _next_beat_delay(self, failures: int, retry_after: float | None) -> float:
        settings = self.settings
        ceiling_s = settings.heartbeat_backoff_max_s or BACKOFF_PERIODS * settings.heartbeat_s
        return next_delay(
            settings.heartbeat_s,
            self._rng,
            jitter=settings.heartbeat_jitter,
            ceiling_s=ceiling_s,
            failures=failures,
            retry_after=retry_after,
        )


def _retrying(
    call: Callable[[], T],
    retry_for_s: float,
    rng: random.Random,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """``call()``, retried with jittered backoff (or VRM's Retry-After) up to ``retry_for_s``."""
    deadline = time.monotonic() + retry_for_s
    failures = 0
    while True:
        try:
            return call()
        except VrmLinkError as exc:
            failures += 1
            delay = next_delay(
                ENROLL_BACKOFF_S,
                rng,
                jitter=1.0,
                ceiling_s=ENROLL_BACKOFF_MAX_S,
                failures=failures,
                retry_after=exc.retry_after,
            )
            if not exc.retryable or time.monotonic() + delay > deadline:
                raise
            log.info("VRM not reachable yet (%s); retrying in %.1f s", exc, delay)
            sleep(delay)
