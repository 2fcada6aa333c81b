"""What state the database is in: reachable, and at which migration."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from vrm.migrate import current_revision, head_revision

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DatabaseStatus:
    """The database as ``/readyz`` and the front page report it."""

    reachable: bool
    revision: str | None
    head: str | None
    error: str | None = None

    @property
    def ready(self) -> bool:
        """Reachable and at the newest migration the code knows."""
        return self.reachable and self.revision == self.head


def database_status(bind: Engine | Session) -> DatabaseStatus:
    """Probe the database with one cheap query (in the session's transaction, if given one)."""
    head = head_revision()
    try:
        revision = current_revision(bind.connection() if isinstance(bind, Session) else bind)
    except SQLAlchemyError as exc:
        log.warning("database not reachable: %s", exc)
        return DatabaseStatus(False, None, head, error=type(exc).__name__)
    return DatabaseStatus(True, revision, head)
