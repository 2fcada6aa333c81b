"""SQL for events and alarms."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import update

from vrm.models import Alarm, Event
from vrm.models.enums import AlarmState
from vrm.repository import Repository, changed_one


class EventRepository(Repository[Event]):
    """The event history, newest first unless asked otherwise."""

    model = Event
    sortable = ("created_at", "type")
    default_sort = ("-created_at",)


class AlarmRepository(Repository[Alarm]):
    """Alarms, most recently raised first unless asked otherwise."""

    model = Alarm
    sortable = ("raised_at", "created_at", "updated_at", "code", "state", "cleared_at")
    default_sort = ("-raised_at",)

    def acknowledge(self, alarm: Alarm, user_id: uuid.UUID, now: datetime) -> bool:
        """Compare-and-swap ``alarm`` from active to acknowledged, then reload it.

        False when it was no longer active (``alarm`` then shows its current state).
        """
        stmt = (
            update(Alarm)
            .where(Alarm.id == alarm.id, Alarm.state == AlarmState.ACTIVE)
            .values(state=AlarmState.ACKNOWLEDGED, acknowledged_by=user_id, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        won = changed_one(self.session.execute(stmt))
        self.session.refresh(alarm)
        return won
