"""Events and alarms pages: the event history and the alarms, each a server-side table.

``/events`` lists events newest first (new ones arrive live at the top);
``/events/alarms`` lists alarms, active ones first, with acknowledge for writers.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from vrm.deps import SessionDep
from vrm.events import service
from vrm.events.repository import AlarmRepository
from vrm.models.enums import AlarmState, Severity
from vrm.repository import Contains
from vrm.web.deps import PageUser
from vrm.web.events_repository import AlarmTableRepository, NameRepository
from vrm.web.render import page
from vrm.web.tables import TableSpec, TableState

router = APIRouter(include_in_schema=False)

SEVERITIES = frozenset(severity.value for severity in Severity)
EVENT_TABLE = TableSpec(
    sortable=("created_at", "type"),
    default_sort="-created_at",
    filters={"severity": SEVERITIES, "target_id": None},
    search="message",
)
ALARM_TABLE = TableSpec(
    sortable=("state", "severity", "code", "raised_at", "cleared_at"),
    default_sort="state",
    filters={
        "state": frozenset(state.value for state in AlarmState),
        "severity": SEVERITIES,
        "target_id": None,
    },
    search="message",
)
# Free-text filters (event types, target kinds) are codes: anything else is dropped.
_CODE = re.compile(r"^[a-z][a-z0-9_.-]{0,63}$")
# Filters a part of the code matches (as the pages' script matches live rows).
_PART_OF_CODE = ("type", "code")
# The target kinds offered in the filter menus (any other code still works in the URL).
TARGET_KINDS = ("vm", "host", "cluster", "datastore", "image", "task")


@router.get("/events", response_class=HTMLResponse)
def event_list(request: Request, session: SessionDep, user: PageUser) -> HTMLResponse:
    """Events, newest first: filter by severity, type and target; search the messages."""
    table = _with_codes(EVENT_TABLE.read(request), request, ("type", "target_type"))
    events, total = service.list_events(session, params=table.params, filters=_where(table))
    return page(
        request,
        "events/events.html",
        user=user,
        section="events",
        table=table,
        events=events,
        total=total,
        names=NameRepository(session).targets((e.target_type, e.target_id) for e in events),
        # New events go on top only where the newest are shown.
        live_top=table.sort == "-created_at" and table.page == 1,
        **_common(session),
    )


@router.get("/events/alarms", response_class=HTMLResponse)
def alarm_list(request: Request, session: SessionDep, user: PageUser) -> HTMLResponse:
    """Alarms, active first: filter by state, severity and target; acknowledge (writers)."""
    table = _with_codes(ALARM_TABLE.read(request), request, ("code", "target_type"))
    alarms, total = AlarmTableRepository(session).page(table.params, _where(table))
    names = NameRepository(session)
    return page(
        request,
        "events/alarms.html",
        user=user,
        section="events",
        table=table,
        alarms=alarms,
        total=total,
        names=names.targets((a.target_type, a.target_id) for a in alarms),
        users=names.users(a.acknowledged_by for a in alarms),
        live_top=table.sort == "state" and table.page == 1,
        **_common(session),
    )


def _common(session: Session) -> dict[str, Any]:
    """What both tabs show: the filter menus and the count of active alarms."""
    return {
        "severities": list(Severity),
        "alarm_states": list(AlarmState),
        "target_kinds": TARGET_KINDS,
        "active_alarms": AlarmRepository(session).count(state=AlarmState.ACTIVE),
    }


def _with_codes(table: TableState, request: Request, names: Iterable[str]) -> TableState:
    """``table`` with the free-text code filters ``names`` that look like codes."""
    codes = {name: request.query_params.get(name, "").strip().lower() for name in names}
    kept = {name: value for name, value in codes.items() if _CODE.match(value)}
    return dataclasses.replace(table, filters={**table.filters, **kept})


def _where(table: TableState) -> dict[str, Any]:
    """The repository's filters: enums and UUIDs as the columns hold them."""
    converted: dict[str, Any] = {}
    if "severity" in table.filters:
        converted["severity"] = Severity(table.filters["severity"])
    if "state" in table.filters:
        converted["state"] = AlarmState(table.filters["state"])
    # A typed part of a code finds it (``fault`` finds ``host_fault``).
    for name in _PART_OF_CODE:
        if name in table.filters:
            converted[name] = Contains(table.filters[name])
    return table.where(**converted)
