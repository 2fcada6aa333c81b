"""When VRM may call a silent host ``fault``: only for silence VRM itself could have heard.

The rule (docs/agent.md, "Liveness"): a host turns ``fault`` when every live VRM process
has been listening, without overload, for ``VRM_HOST_FAULT_AFTER`` seconds, and has
written every heartbeat it received, and none came from that host. Time in which VRM was
too busy to take heartbeats (its event loop late, heartbeats shed), or was not running,
never counts towards a host's silence: after a VRM start or an overload, detection waits
``VRM_HOST_FAULT_AFTER`` seconds before it judges again.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from vrm.agents.repository import ProcessRepository

# A process whose row is older than this is gone (its flusher writes every second).
PROCESS_GONE_AFTER_S = 15.0
# Rows of processes gone this long are removed.
_FORGET_AFTER = timedelta(days=1)


def heard_until(session: Session, *, now: datetime, fault_after_s: float) -> datetime | None:
    """The time up to which VRM has heard everything, if it listened long enough; else None.

    Host liveness treats this time as "now": a host whose last heartbeat is older than
    it minus ``fault_after_s`` is silent.
    """
    repo = ProcessRepository(session)
    repo.forget_older(now - _FORGET_AFTER)
    live = repo.live(now - timedelta(seconds=PROCESS_GONE_AFTER_S))
    if not live:
        return None
    horizon = min(min(p.flushed_at for p in live), now)
    listening = max(p.listening_since for p in live)
    if horizon - listening < timedelta(seconds=fault_after_s):
        return None
    return horizon
