"""Recently checked bearer tokens, so most requests learn their caller without a query.

An entry lives ``TTL_S`` seconds (never past its token's expiry). Changes to users in
this process clear the cache at once; other VRM processes follow within ``TTL_S``.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from vrm.auth.principal import Authenticated
from vrm.auth.security import hash_token
from vrm.models.base import utcnow

TTL_S = 5.0
# Beyond this many tokens the cache starts over (it is a cache, not a session store).
MAX_ENTRIES = 10_000


@dataclass(slots=True)
class _Entry:
    who: Authenticated
    valid_until: float


class PrincipalCache:
    """Token hash → who it authenticates, for a few seconds."""

    def __init__(self, ttl_s: float = TTL_S) -> None:
        self._ttl_s = ttl_s
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()

    def get(self, token: str) -> Authenticated | None:
        """Who ``token`` authenticated a moment ago, if it still may."""
        entry = self._entries.get(hash_token(token))
        if entry is None or time.monotonic() > entry.valid_until:
            return None
        return entry.who

    def put(self, token: str, who: Authenticated) -> None:
        """Remember what authenticating ``token`` found."""
        lifetime = self._ttl_s
        if who.expires_at is not None:
            lifetime = min(lifetime, (who.expires_at - utcnow()).total_seconds())
        with self._lock:
            if len(self._entries) >= MAX_ENTRIES:
                self._entries.clear()
            self._entries[hash_token(token)] = _Entry(who, time.monotonic() + lifetime)

    def clear(self) -> None:
        """Forget everything (a user, a role or a token changed)."""
        with self._lock:
            self._entries.clear()
