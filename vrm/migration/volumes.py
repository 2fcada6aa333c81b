"""Moving a VM's disks to another datastore as part of a migration.

The request names a datastore (``datastore_id``). Every disk of the VM not already on it
gets a new volume there, made at the start (state ``creating``, so that its space is
claimed as placement claims it). How the data moves:

- live (the VM runs): libvirt copies the disks with the memory (a copy-storage
  migration into volumes the target creates first);
- cold (the VM is stopped): one node that reaches both datastores copies each volume
  (the source node if it can, else the target node), and the domain is defined on the
  target with the copies.

Only after success are the disks switched to their new volumes and the old ones removed;
a failed move removes the new volumes and leaves the old ones untouched. A move from
one host's local datastore straight to another host's local datastore works live only:
a stopped VM needs a datastore both nodes reach (it can go there, then on).
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from vrm.errors import Conflict, NotFound
from vrm.migration.checks import reached_datastores
from vrm.models import Cluster, Datastore, Vm, Volume
from vrm.models.enums import ObjectState
from vrm.vms.spec import volume_name

# Keys of the task's params.
MOVES = "volume_moves"
COPY_HOST = "copy_host_id"


@dataclass(frozen=True, slots=True)
class Move:
    """One disk's move: from its volume to a new one on the target datastore."""

    device: str
    old: uuid.UUID
    new: uuid.UUID

    def to_json(self) -> dict[str, str]:
        return {"device": self.device, "old": str(self.old), "new": str(self.new)}

    @classmethod
    def of(cls, raw: dict[str, Any]) -> Move:
        return cls(raw["device"], uuid.UUID(str(raw["old"])), uuid.UUID(str(raw["new"])))


def moves_of(params: dict[str, Any]) -> list[Move]:
    """The disk moves a migration task was asked for (none: the volumes stay)."""
    return [Move.of(raw) for raw in params.get(MOVES, [])]


def target_datastore(session: Session, vm: Vm, datastore_id: uuid.UUID) -> Datastore:
    """The datastore the disks go to: of the VM's site, available."""
    store = session.get(Datastore, datastore_id)
    if store is None:
        raise NotFound.of("datastore", datastore_id)
    cluster = session.get(Cluster, vm.cluster_id)
    assert cluster is not None
    if store.site_id != cluster.site_id:
        raise Conflict(
            f"datastore {store.name} is in another site than VM {vm.name}",
            code="datastore_other_site",
        )
    if store.state != ObjectState.AVAILABLE:
        raise Conflict(
            f"datastore {store.name} is {store.state.value}",
            code="datastore_not_available",
            details={"state": store.state.value},
        )
    return store


def moving(session: Session, vm: Vm, store: Datastore) -> list[tuple[str, Volume]]:
    """The disks (device, volume) not yet on ``store``; refused when there are none, or
    when a volume backs linked clones (their backing file must stay where it is)."""
    found: list[tuple[str, Volume]] = []
    for disk in sorted(vm.disks, key=lambda d: d.device):
        volume = session.get(Volume, disk.volume_id)
        if volume is not None and volume.datastore_id != store.id:
            found.append((disk.device, volume))
    if not found:
        raise Conflict(
            f"every disk of VM {vm.name} is already on datastore {store.name}",
            code="already_on_datastore",
        )
    ids = [volume.id for _device, volume in found]
    backing = session.scalar(select(Volume.name).where(Volume.backing_volume_id.in_(ids)).limit(1))
    if backing is not None:
        raise Conflict(
            f"a disk of VM {vm.name} backs linked clone {backing}; it cannot move",
            code="volume_has_linked_clones",
            details={"clone": backing},
        )
    return found


def new_volumes(
    session: Session, vm: Vm, store: Datastore, disks: list[tuple[str, Volume]]
) -> list[Move]:
    """A new volume (creating, which claims its space) on ``store`` for each disk."""
    moves: list[Move] = []
    for device, old in disks:
        new = Volume(
            datastore_id=store.id,
            # A fresh name: the datastore may hold what an earlier move left behind.
            name=f"{volume_name(vm, device)}-{secrets.token_hex(3)}",
            format=old.format,
            capacity_mib=old.capacity_mib,
            state=ObjectState.CREATING,
        )
        session.add(new)
        session.flush()
        moves.append(Move(device, old.id, new.id))
    return moves


def copy_host(
    session: Session,
    vm: Vm,
    candidates: tuple[uuid.UUID, uuid.UUID],
    volume_ids: Iterable[uuid.UUID],
    store: Datastore,
) -> uuid.UUID:
    """The first of ``candidates`` (source, target) that reaches both the datastores of
    the moving volumes and ``store``: the node that copies a stopped VM's disks."""
    stores = select(Volume.datastore_id).where(Volume.id.in_(list(volume_ids)))
    wanted = set(session.scalars(stores)) | {store.id}
    for host_id in candidates:
        if reached_datastores(session, host_id, wanted) == wanted:
            return host_id
    raise Conflict(
        f"no host reaches both the datastores of VM {vm.name}'s disks and {store.name}, "
        "so a stopped VM's disks cannot be copied; move them to a datastore both hosts "
        "reach first, or move the VM while it runs",
        code="storage_not_reachable",
        details={"datastore_id": str(store.id)},
    )
