"""Datastore rules: names unique per site, no deletion while volumes remain; volumes read."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from vrm.audit.service import record
from vrm.auth.principal import Principal
from vrm.crud import apply_update, ensure_unique, get_or_404, get_ref_or_422
from vrm.errors import Conflict
from vrm.listing import ListParams
from vrm.models import Datastore, Volume
from vrm.sites.repository import DEFAULT_SITE_ID, SiteRepository
from vrm.storage.repository import DatastoreRepository, VolumeRepository
from vrm.storage.schemas import DatastoreCreate, DatastoreUpdate

KIND = "datastore"
VOLUME = "volume"


@dataclass(frozen=True, slots=True)
class DatastoreView:
    """A datastore and the ids of the hosts that can reach it."""

    datastore: Datastore
    host_ids: list[uuid.UUID]


def _name_taken(name: str) -> str:
    return f"a datastore named {name!r} already exists in this site"


def _view(repo: DatastoreRepository, datastore: Datastore) -> DatastoreView:
    return DatastoreView(datastore, repo.host_ids([datastore.id])[datastore.id])


def list_datastores(
    session: Session, *, params: ListParams, filters: Mapping[str, object]
) -> tuple[list[DatastoreView], int]:
    """A page of datastores with their hosts."""
    repo = DatastoreRepository(session)
    items, total = repo.page(params, filters)
    hosts = repo.host_ids([d.id for d in items])
    return [DatastoreView(d, hosts[d.id]) for d in items], total


def get_datastore(session: Session, *, datastore_id: uuid.UUID) -> DatastoreView:
    """One datastore with its hosts, or 404."""
    repo = DatastoreRepository(session)
    return _view(repo, get_or_404(repo, datastore_id, KIND))


def create_datastore(session: Session, *, actor: Principal, data: DatastoreCreate) -> DatastoreView:
    """Create a datastore in its site (the default site when none is named)."""
    site = get_ref_or_422(
        SiteRepository(session), data.site_id or DEFAULT_SITE_ID, "site", "site_id"
    )
    repo = DatastoreRepository(session)
    ensure_unique(repo, _name_taken(data.name), site_id=site.id, name=data.name)
    datastore = Datastore(**data.model_dump(exclude={"site_id"}), site_id=site.id)
    repo.add(datastore, conflict=_name_taken(data.name))
    record(
        session, actor=actor, action="datastore.create", target_type=KIND, target_id=datastore.id
    )
    return DatastoreView(datastore, [])


def update_datastore(
    session: Session, *, actor: Principal, datastore_id: uuid.UUID, data: DatastoreUpdate
) -> DatastoreView:
    """Rename a datastore or change its description."""
    repo = DatastoreRepository(session)
    datastore = get_or_404(repo, datastore_id, KIND)
    if data.name is not None and data.name != datastore.name:
        ensure_unique(repo, _name_taken(data.name), site_id=datastore.site_id, name=data.name)
    changes = apply_update(datastore, data)
    repo.flush(conflict=_name_taken(datastore.name))
    record(
        session,
        actor=actor,
        action="datastore.update",
        target_type=KIND,
        target_id=datastore.id,
        details=changes,
    )
    return _view(repo, datastore)


def delete_datastore(session: Session, *, actor: Principal, datastore_id: uuid.UUID) -> None:
    """Delete a datastore that holds no volumes; 409 ``datastore_in_use`` otherwise."""
    repo = DatastoreRepository(session)
    datastore = get_or_404(repo, datastore_id, KIND)
    volumes = VolumeRepository(session).count(datastore_id=datastore.id)
    if volumes:
        raise Conflict(
            f"datastore {datastore.name!r} still holds {volumes} volume(s)",
            code="datastore_in_use",
            details={"volumes": volumes},
        )
    repo.delete(datastore, conflict=f"datastore {datastore.name!r} is still in use")
    record(
        session, actor=actor, action="datastore.delete", target_type=KIND, target_id=datastore_id
    )


def list_volumes(
    session: Session, *, params: ListParams, filters: Mapping[str, object]
) -> tuple[Sequence[Volume], int]:
    """A page of volumes."""
    return VolumeRepository(session).page(params, filters)


def get_volume(session: Session, *, volume_id: uuid.UUID) -> Volume:
    """One volume, or 404."""
    return get_or_404(VolumeRepository(session), volume_id, VOLUME)
