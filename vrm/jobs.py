"""Periodic jobs (host liveness today; HA, DRS and metric roll-ups later).

Each round runs in its own transaction. On PostgreSQL a round first takes a
transaction-scoped advisory lock per job, so with several VRM replicas exactly one
runs each job per round; on SQLite there is one VRM process.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from vrm.agents.listening import heard_until
from vrm.agents.liveness import mark_silent_hosts
from vrm.config import Settings
from vrm.models.base import utcnow

log = logging.getLogger(__name__)

Job = Callable[[Session, Settings], object]


def host_liveness(session: Session, settings: Settings) -> object:
    """Mark hosts ``fault`` that VRM, listening well, did not hear from for long enough."""
    fault_after = settings.host_fault_after
    horizon = heard_until(session, now=utcnow(), fault_after_s=fault_after)
    if horizon is None:
        return 0
    return mark_silent_hosts(session, now=horizon, fault_after_s=fault_after)


JOBS: dict[str, Job] = {"host_liveness": host_liveness}


def try_lock(session: Session, name: str) -> bool:
    """Take the job's cluster-wide lock for this transaction (always granted on SQLite)."""
    if session.get_bind().dialect.name != "postgresql":
        return True
    stmt = text("SELECT pg_try_advisory_xact_lock(hashtext(:name))")
    return bool(session.scalar(stmt, {"name": f"openvrm:{name}"}))


def run_round(factory: sessionmaker[Session], settings: Settings) -> None:
    """Run every job once, each in its own transaction; a failing job does not stop the others."""
    for name, job in JOBS.items():
        try:
            with factory.begin() as session:
                if try_lock(session, name):
                    job(session, settings)
        except Exception:
            log.exception("periodic job %s failed", name)


class JobRunner:
    """A daemon thread running ``run_round`` every ``VRM_JOBS_INTERVAL_S``."""

    def __init__(self, factory: sessionmaker[Session], settings: Settings) -> None:
        self._factory = factory
        self._settings = settings
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="vrm-jobs", daemon=True)

    def start(self) -> None:
        """Start the thread."""
        self._thread.start()

    def stop(self) -> None:
        """Ask the thread to stop and wait for the current round to end."""
        self._stop.set()
        self._thread.join(timeout=30)

    def _loop(self) -> None:
        while not self._stop.wait(self._settings.jobs_interval_s):
            run_round(self._factory, self._settings)
