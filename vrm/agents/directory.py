"""Finding the agent of a host: its URL, the credential VRM presents to it, and its client.

Clients are pooled, one per host, and shared by every task step: building a client
per step made each step pay for a TLS context and a new connection.
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable
from typing import NamedTuple

import httpx
from sqlalchemy.orm import Session

from vrm.agents.client import AgentClient
from vrm.agents.credentials import vrm_credential
from vrm.config import Settings
from vrm.crud import get_or_404
from vrm.hosts.repository import HostRepository

MAX_HOSTS = 4096


# Makes the client of an agent from its URL, the credential VRM presents and a timeout.
ClientFactory = Callable[[str, str, float], AgentClient]


class _Pooled(NamedTuple):
    """A client and what it was made for: the agent's URL, the credential, the timeout."""

    made_for: tuple[str, str, float]
    client: AgentClient


class AgentClients:
    """One shared client per host agent, least recently used dropped beyond ``max_hosts``.

    A host's client is reused while its URL, credential and timeout stay the same;
    a replaced or dropped client is closed. Safe to use from many threads. Clients are
    made by ``factory`` (a test or a fleet simulator plugs in its own), by default real
    HTTP clients over ``transport``.
    """

    def __init__(
        self,
        *,
        max_hosts: int = MAX_HOSTS,
        transport: httpx.BaseTransport | None = None,
        factory: ClientFactory | None = None,
    ) -> None:
        self._max_hosts = max_hosts
        self._factory = factory or (
            lambda url, credential, timeout_s: AgentClient(
                url, credential, timeout_s=timeout_s, transport=transport
            )
        )
        self._lock = threading.Lock()
        self._pooled: OrderedDict[uuid.UUID, _Pooled] = OrderedDict()

    def get(
        self, host_id: uuid.UUID, agent_url: str, credential: str, *, timeout_s: float = 30.0
    ) -> AgentClient:
        """The client of ``host_id``'s agent at ``agent_url`` (shared: never close it)."""
        made_for = (agent_url, credential, timeout_s)
        with self._lock:
            found = self._pooled.get(host_id)
            if found is not None and found.made_for == made_for:
                self._pooled.move_to_end(host_id)
                return found.client
            client = self._factory(agent_url, credential, timeout_s)
            self._pooled[host_id] = _Pooled(made_for, client)
            self._pooled.move_to_end(host_id)
            stale = [found.client] if found is not None else []
            stale += self._evict()
        _close_all(stale)
        return client

    def __len__(self) -> int:
        return len(self._pooled)

    def close(self) -> None:
        """Close every client; the registry stays usable and makes new ones on demand."""
        with self._lock:
            stale = [pooled.client for pooled in self._pooled.values()]
            self._pooled.clear()
        _close_all(stale)

    def _evict(self) -> list[AgentClient]:
        """Drop the least recently used clients beyond the bound (lock held)."""
        evicted = []
        while len(self._pooled) > self._max_hosts:
            evicted.append(self._pooled.popitem(last=False)[1].client)
        return evicted


def _close_all(clients: list[AgentClient]) -> None:
    for client in clients:
        client.close()


def agent_for(
    session: Session, settings: Settings, host_id: uuid.UUID, clients: AgentClients
) -> AgentClient:
    """The shared client for the agent of ``host_id`` (do not close it)."""
    host = get_or_404(HostRepository(session), host_id, "host")
    return clients.get(
        host.id,
        host.agent_url,
        vrm_credential(settings.secret_key, host.id),
        timeout_s=settings.agent_timeout_s,
    )
