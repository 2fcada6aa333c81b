"""Reading events and alarms; acknowledging alarms."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence

from sqlalchemy.orm import Session

from vrm.audit.service import record
from vrm.auth.principal import Principal
from vrm.crud import get_or_404
from vrm.errors import Conflict
from vrm.events.repository import AlarmRepository, EventRepository
from vrm.listing import ListParams
from vrm.models import Alarm, Event
from vrm.models.base import utcnow
from vrm.models.enums import AlarmState

EVENT = "event"
ALARM = "alarm"


def list_events(
    session: Session, *, params: ListParams, filters: Mapping[str, object]
) -> tuple[Sequence[Event], int]:
    """A page of events, newest first by default."""
    return EventRepository(session).page(params, filters)


def get_event(session: Session, *, event_id: uuid.UUID) -> Event:
    """One event, or 404."""
    return get_or_404(EventRepository(session), event_id, EVENT)


def list_alarms(
    session: Session, *, params: ListParams, filters: Mapping[str, object]
) -> tuple[Sequence[Alarm], int]:
    """A page of alarms, most recently raised first by default."""
    return AlarmRepository(session).page(params, filters)


def get_alarm(session: Session, *, alarm_id: uuid.UUID) -> Alarm:
    """One alarm, or 404."""
    return get_or_404(AlarmRepository(session), alarm_id, ALARM)


def acknowledge_alarm(session: Session, *, actor: Principal, alarm_id: uuid.UUID) -> Alarm:
    """Acknowledge an active alarm; a second acknowledgement changes nothing; 409 once cleared."""
    repo = AlarmRepository(session)
    alarm = get_or_404(repo, alarm_id, ALARM)
    # The swap, not the state read above, decides: the alarm may clear meanwhile.
    if repo.acknowledge(alarm, actor.user_id, utcnow()):
        record(
            session, actor=actor, action="alarm.acknowledge", target_type=ALARM, target_id=alarm.id
        )
        return alarm
    if alarm.state != AlarmState.ACKNOWLEDGED:
        raise Conflict(
            f"alarm {alarm.id} is {alarm.state.value}, not active",
            code="alarm_not_active",
            details={"state": alarm.state.value},
        )
    return alarm
