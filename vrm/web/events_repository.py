"""What the events and alarms pages read beyond the API's lists: urgency order, names."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any, ClassVar

from sqlalchemy import case, select
from sqlalchemy.orm import Session

from vrm.errors import ValidationFailed
from vrm.models import Alarm, Cluster, Host, User, Vm
from vrm.models.enums import AlarmState, Severity
from vrm.repository import Repository

# Most urgent first: an operator sorts alarms to see what needs them, not alphabetically.
_RANKS: dict[str, dict[Any, int]] = {
    "state": {AlarmState.ACTIVE: 0, AlarmState.ACKNOWLEDGED: 1, AlarmState.CLEARED: 2},
    "severity": {Severity.CRITICAL: 0, Severity.MAJOR: 1, Severity.MINOR: 2, Severity.INFO: 3},
}
# The kinds of target a page exists for, and the table their names are in.
_NAMED: dict[str, Any] = {"vm": Vm, "host": Host, "cluster": Cluster}


class AlarmTableRepository(Repository[Alarm]):
    """Alarms for the WebUI's table: state and severity sort by urgency."""

    model = Alarm
    sortable: ClassVar[tuple[str, ...]] = ("state", "severity", "code", "raised_at", "cleared_at")
    default_sort: ClassVar[tuple[str, ...]] = ("state",)

    def _order_by(self, fields: Sequence[str]) -> list[Any]:
        order: list[Any] = []
        for field in fields:
            name = field.lstrip("-")
            if name not in self.sortable:
                raise ValidationFailed(f"cannot sort by {name!r}", code="invalid_sort")
            column: Any = getattr(Alarm, name)
            if name in _RANKS:
                column = case(_RANKS[name], value=column, else_=len(_RANKS[name]))
            order.append(column.desc() if field.startswith("-") else column.asc())
        # Within one rank the newest first; the id keeps pages stable.
        return [*order, Alarm.raised_at.desc(), Alarm.id.asc()]


class NameRepository:
    """The names of the VMs, hosts, clusters and users a page of events mentions."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def targets(self, targets: Iterable[tuple[str | None, uuid.UUID | None]]) -> dict[Any, str]:
        """``{id: name}`` of the targets that are VMs, hosts or clusters and still exist."""
        wanted: dict[str, set[uuid.UUID]] = {}
        for kind, ident in targets:
            if kind in _NAMED and ident is not None:
                wanted.setdefault(kind, set()).add(ident)
        names: dict[Any, str] = {}
        for kind, ids in wanted.items():
            model = _NAMED[kind]
            names.update(self._names(model, ids))
        return names

    def users(self, ids: Iterable[uuid.UUID | None]) -> dict[Any, str]:
        """``{id: name}`` of these users."""
        return self._names(User, {ident for ident in ids if ident is not None})

    def _names(self, model: Any, ids: set[uuid.UUID]) -> dict[Any, str]:
        if not ids:
            return {}
        rows = self.session.execute(select(model.id, model.name).where(model.id.in_(ids)))
        return {row.id: row.name for row in rows}
