"""When tokens were last used: noted in memory by requests, written behind in batches."""

from __future__ import annotations

import threading
import uuid
from datetime import datetime

from vrm.auth.repository import TokenRepository
from vrm.db import SessionScope


class TokenUses:
    """Token uses not yet written (the latest per token)."""

    def __init__(self, write_scope: SessionScope) -> None:
        self.write_scope = write_scope
        self._pending: dict[uuid.UUID, datetime] = {}
        self._lock = threading.Lock()

    def note(self, token_id: uuid.UUID, at: datetime) -> None:
        """A request authenticated with ``token_id`` at ``at``."""
        with self._lock:
            self._pending[token_id] = at

    def flush(self) -> int:
        """Write the noted uses; how many."""
        with self._lock:
            batch, self._pending = self._pending, {}
        if batch:
            with self.write_scope() as session:
                TokenRepository(session).note_uses(batch)
        return len(batch)
