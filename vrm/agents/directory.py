"""Finding the agent of a host: its URL and the credential VRM presents to it."""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from vrm.agents.client import AgentClient
from vrm.agents.credentials import vrm_credential
from vrm.config import Settings
from vrm.crud import get_or_404
from vrm.hosts.repository import HostRepository


def agent_for(session: Session, settings: Settings, host_id: uuid.UUID) -> AgentClient:
    """A client for the agent of ``host_id`` (close it, or use it as a context manager)."""
    host = get_or_404(HostRepository(session), host_id, "host")
    return AgentClient(
        host.agent_url,
        vrm_credential(settings.secret_key, host.id),
        timeout_s=settings.agent_timeout_s,
    )
