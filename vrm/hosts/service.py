"""Reading hosts; they join through agent enrollment, not through this API."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence

from sqlalchemy.orm import Session

from vrm.crud import get_or_404
from vrm.hosts.repository import HostRepository
from vrm.listing import ListParams
from vrm.models import Host

KIND = "host"


def list_hosts(
    session: Session, *, params: ListParams, filters: Mapping[str, object]
) -> tuple[Sequence[Host], int]:
    """A page of hosts."""
    return HostRepository(session).page(params, filters)


def get_host(session: Session, *, host_id: uuid.UUID) -> Host:
    """One host, or 404."""
    return get_or_404(HostRepository(session), host_id, KIND)
