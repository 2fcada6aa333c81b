"""SQL for datastores, the hosts that reach them, and volumes."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select

from vrm.models import Datastore, HostDatastore, Volume
from vrm.repository import Repository


class DatastoreRepository(Repository[Datastore]):
    """Datastores."""

    model = Datastore
    sortable = (
        "created_at",
        "updated_at",
        "name",
        "type",
        "state",
        "capacity_mib",
        "allocated_mib",
    )

    def host_ids(self, datastore_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[uuid.UUID]]:
        """The ids of the hosts that can reach each of ``datastore_ids``."""
        found: dict[uuid.UUID, list[uuid.UUID]] = {ident: [] for ident in datastore_ids}
        if not datastore_ids:
            return found
        stmt = (
            select(HostDatastore.datastore_id, HostDatastore.host_id)
            .where(HostDatastore.datastore_id.in_(datastore_ids))
            .order_by(HostDatastore.host_id)
        )
        for datastore_id, host_id in self.session.execute(stmt):
            found[datastore_id].append(host_id)
        return found


class VolumeRepository(Repository[Volume]):
    """Volumes."""

    model = Volume
    sortable = ("created_at", "updated_at", "name", "state", "capacity_mib", "allocation_mib")


class HostDatastoreRepository(Repository[HostDatastore]):
    """Which host reaches which datastore, under which pool name."""

    model = HostDatastore
    sortable = ("pool_name",)
    default_sort = ("pool_name",)

    def for_host(self, host_id: uuid.UUID) -> Sequence[HostDatastore]:
        """The datastore links of one host."""
        stmt = select(HostDatastore).where(HostDatastore.host_id == host_id)
        return self.session.scalars(stmt).all()
