"""``/api/v1/events`` and ``/api/v1/alarms``."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from vrm.deps import CurrentUser, SessionDep, Writer
from vrm.errors import Conflict, Forbidden, NotFound, ValidationFailed, error_responses
from vrm.events import service
from vrm.events.schemas import AlarmRead, EventRead
from vrm.listing import ListDep, TextFilter
from vrm.models.enums import AlarmState, Severity
from vrm.schemas import Page

events = APIRouter(prefix="/events", tags=["events"])
alarms = APIRouter(prefix="/alarms", tags=["alarms"])


@events.get("", responses=error_responses(ValidationFailed))
def list_events(
    session: SessionDep,
    _user: CurrentUser,
    params: ListDep,
    severity: Severity | None = None,
    type: TextFilter = None,
    target_type: TextFilter = None,
    target_id: uuid.UUID | None = None,
) -> Page[EventRead]:
    """List events (newest first), filtered by severity, type or target."""
    filters = {
        "severity": severity,
        "type": type,
        "target_type": target_type,
        "target_id": target_id,
    }
    items, total = service.list_events(session, params=params, filters=filters)
    return Page(items=[EventRead.model_validate(e) for e in items], total=total)


@events.get("/{event_id}", responses=error_responses(NotFound))
def get_event(session: SessionDep, _user: CurrentUser, event_id: uuid.UUID) -> EventRead:
    """One event."""
    return EventRead.model_validate(service.get_event(session, event_id=event_id))


@alarms.get("", responses=error_responses(ValidationFailed))
def list_alarms(
    session: SessionDep,
    _user: CurrentUser,
    params: ListDep,
    state: AlarmState | None = None,
    severity: Severity | None = None,
    target_type: TextFilter = None,
    target_id: uuid.UUID | None = None,
) -> Page[AlarmRead]:
    """List alarms (most recently raised first), filtered by state, severity or target."""
    filters = {
        "state": state,
        "severity": severity,
        "target_type": target_type,
        "target_id": target_id,
    }
    items, total = service.list_alarms(session, params=params, filters=filters)
    return Page(items=[AlarmRead.model_validate(a) for a in items], total=total)


@alarms.get("/{alarm_id}", responses=error_responses(NotFound))
def get_alarm(session: SessionDep, _user: CurrentUser, alarm_id: uuid.UUID) -> AlarmRead:
    """One alarm."""
    return AlarmRead.model_validate(service.get_alarm(session, alarm_id=alarm_id))


@alarms.post("/{alarm_id}/acknowledge", responses=error_responses(Conflict, Forbidden, NotFound))
def acknowledge_alarm(session: SessionDep, user: Writer, alarm_id: uuid.UUID) -> AlarmRead:
    """Acknowledge an active alarm (idempotent); 409 once it has cleared."""
    alarm = service.acknowledge_alarm(session, actor=user, alarm_id=alarm_id)
    return AlarmRead.model_validate(alarm)


router = APIRouter()
router.include_router(events)
router.include_router(alarms)
