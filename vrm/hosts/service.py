"""Hosts: they join through agent enrollment; operators read and remove them here."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence

from sqlalchemy.orm import Session

from vrm.audit.service import record
from vrm.auth.principal import Principal
from vrm.crud import get_or_404
from vrm.errors import Conflict
from vrm.events.emit import emit
from vrm.hosts.repository import HostRepository
from vrm.listing import ListParams
from vrm.models import Datastore, Host
from vrm.storage.repository import DatastoreRepository, HostDatastoreRepository, VolumeRepository
from vrm.vms.repository import VmRepository

KIND = "host"


def list_hosts(
    session: Session, *, params: ListParams, filters: Mapping[str, object]
) -> tuple[Sequence[Host], int]:
    """A page of hosts."""
    return HostRepository(session).page(params, filters)


def get_host(session: Session, *, host_id: uuid.UUID) -> Host:
    """One host, or 404."""
    return get_or_404(HostRepository(session), host_id, KIND)


def delete_host(session: Session, *, actor: Principal, host_id: uuid.UUID) -> None:
    """Forget a host that runs no VMs, with local datastores only it reached (if empty)."""
    repo = HostRepository(session)
    host = get_or_404(repo, host_id, KIND)
    vms = VmRepository(session).count(host_id=host.id)
    if vms:
        raise Conflict(
            f"host {host.name} still has {vms} VM(s); move or delete them first",
            code="host_not_empty",
            details={"vms": vms},
        )
    orphans = _datastores_only_here(session, host)
    repo.delete(host, conflict=f"host {host.name} is still referenced")
    stores = DatastoreRepository(session)
    for store in orphans:
        stores.delete(store, conflict=f"datastore {store.name} is still in use")
    record(
        session,
        actor=actor,
        action="host.delete",
        target_type=KIND,
        target_id=host_id,
        details={"name": host.name, "datastores_removed": [s.name for s in orphans]},
    )
    emit(
        session,
        type="host_removed",
        message=f"host {host.name} removed by {actor.name}",
        target_type=KIND,
        target_id=host_id,
    )


def _datastores_only_here(session: Session, host: Host) -> list[Datastore]:
    """Datastores that only ``host`` reaches and that hold no volume."""
    links = HostDatastoreRepository(session).for_host(host.id)
    stores = DatastoreRepository(session)
    reach = stores.host_ids([link.datastore_id for link in links])
    volumes = VolumeRepository(session)
    found = []
    for link in links:
        store = stores.get(link.datastore_id)
        alone = reach[link.datastore_id] == [host.id]
        if store is not None and alone and volumes.count(datastore_id=store.id) == 0:
            found.append(store)
    return found
