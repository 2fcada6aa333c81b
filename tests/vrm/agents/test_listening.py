"""Host liveness only counts silence that VRM, listening well, could have heard."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from tests.factories import add_host
from tests.vrm.scheduler.factories import add_cluster
from vrm.agents.listening import PROCESS_GONE_AFTER_S, heard_until
from vrm.config import Settings
from vrm.jobs import host_liveness
from vrm.models import VrmProcess
from vrm.models.base import utcnow
from vrm.models.enums import HostState


def process(
    session: Session, name: str, now: datetime, *, listening_for: float, flushed_ago: float = 0.5
) -> None:
    session.add(
        VrmProcess(
            name=name,
            started_at=now - timedelta(hours=1),
            listening_since=now - timedelta(seconds=listening_for),
            flushed_at=now - timedelta(seconds=flushed_ago),
            seen_at=now - timedelta(seconds=flushed_ago),
        )
    )
    session.flush()


def test_nothing_is_judged_without_a_listening_process(session: Session) -> None:
    now = utcnow()
    assert heard_until(session, now=now, fault_after_s=30) is None
    process(session, "gone", now, listening_for=3600, flushed_ago=PROCESS_GONE_AFTER_S + 1)
    assert heard_until(session, now=now, fault_after_s=30) is None, "a gone process is ignored"


def test_after_a_start_or_an_overload_vrm_listens_a_full_period_first(session: Session) -> None:
    now = utcnow()
    process(session, "a", now, listening_for=10)
    assert heard_until(session, now=now, fault_after_s=30) is None
    assert heard_until(session, now=now + timedelta(seconds=25), fault_after_s=30) is None


def test_the_horizon_is_what_every_live_process_has_written(session: Session) -> None:
    now = utcnow()
    process(session, "a", now, listening_for=120, flushed_ago=0.5)
    process(session, "b", now, listening_for=300, flushed_ago=2.0)
    horizon = heard_until(session, now=now, fault_after_s=30)
    assert horizon == now - timedelta(seconds=2.0)
    process(session, "c", now, listening_for=5)
    assert heard_until(session, now=now, fault_after_s=30) is None, "one new listener pauses all"


def test_the_job_faults_only_hosts_silent_while_vrm_listened(session: Session) -> None:
    cluster = add_cluster(session)
    now = utcnow()
    silent = add_host(session, cluster.id)
    silent.last_heartbeat_at = now - timedelta(seconds=60)
    session.flush()
    settings = Settings(host_fault_after=30)
    process(session, "overloaded", now, listening_for=20)
    assert host_liveness(session, settings) == 0, "VRM was overloaded 20 s ago: no judgement"
    session.delete(session.get(VrmProcess, "overloaded"))
    process(session, "well", now, listening_for=120)
    assert host_liveness(session, settings) == 1
    session.refresh(silent)
    assert silent.state == HostState.FAULT
