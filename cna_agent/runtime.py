"""The running agent: enroll once, then serve VRM's commands and send heartbeats."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from cna_agent.clock import utcnow
from cna_agent.config import Settings
from cna_agent.node import Node
from cna_agent.protocol import EnrollRequest, Heartbeat, HostFacts
from cna_agent.state import Identity, hash_credential, load_identity, save_identity
from cna_agent.vrm_link import VrmLinkError, enroll, send_heartbeat

log = logging.getLogger(__name__)

T = TypeVar("T")

# Facts are re-read every this many heartbeats (and sent when they changed).
FACTS_EVERY = 6


class NotEnrolled(Exception):
    """The agent cannot work: it has no identity and cannot get one."""


def listen_address(listen: str) -> tuple[str, int]:
    """``host:port`` of CNA_LISTEN."""
    host, _, port = listen.rpartition(":")
    return host or "0.0.0.0", int(port)


class Agent:
    """One agent process: a node, its identity, and the heartbeat thread."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.node = Node(settings)
        self.identity: Identity | None = load_identity(settings.state_dir)
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
        answer = _retrying(lambda: enroll(vrm_url, token, request), retry_for_s)
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
        send_heartbeat(identity.vrm_url, str(identity.host_id), identity.host_credential, beat)
        self._sent_facts = facts
        self._beats += 1

    def start_loops(self) -> None:
        """Sample statistics every CNA_STATS_S and send heartbeats every CNA_HEARTBEAT_S."""
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
        """Stop the heartbeat thread and release the node."""
        self._stop.set()
        self.node.close()

    def _heartbeat_loop(self) -> None:
        failing = False
        while not self._stop.is_set():
            try:
                self.heartbeat_once()
                if failing:
                    log.info("heartbeats reach VRM again")
                failing = False
            except Exception as exc:  # keep beating whatever one round hit
                if not failing:
                    log.warning("heartbeat failed: %s", exc)
                failing = True
            self._stop.wait(self.settings.heartbeat_s)


def _retrying(call: Callable[[], T], retry_for_s: float) -> T:
    """``call()``, retried with backoff while VRM is unreachable, up to ``retry_for_s``."""
    deadline = time.monotonic() + retry_for_s
    delay = 1.0
    while True:
        try:
            return call()
        except VrmLinkError as exc:
            if not exc.retryable or time.monotonic() + delay > deadline:
                raise
            log.info("VRM not reachable yet (%s); retrying in %.0f s", exc, delay)
            time.sleep(delay)
            delay = min(delay * 2, 15.0)
