"""``/v1/pools``: storage pools (datastores) and their volumes."""

from __future__ import annotations

from fastapi import APIRouter, status

from cna_agent.api.deps import NodeDep
from cna_agent.errors import InvalidSpec
from cna_agent.protocol import (
    Operation,
    PoolReport,
    PoolSpec,
    VolumeClone,
    VolumeReport,
    VolumeResize,
    VolumeSpec,
)

router = APIRouter(prefix="/pools", tags=["storage"])


def _same_name(path_name: str, body_name: str) -> None:
    if path_name != body_name:
        raise InvalidSpec("the body's name differs from the URL's", code="name_mismatch")


@router.get("")
def list_pools(node: NodeDep) -> list[PoolReport]:
    """The node's storage pools."""
    return node.storage.pools()


@router.put("/{name}")
def ensure_pool(node: NodeDep, name: str, spec: PoolSpec) -> PoolReport:
    """Create and start a pool unless it exists as specified."""
    _same_name(name, spec.name)
    return node.storage.ensure_pool(spec)


@router.get("/{name}")
def get_pool(node: NodeDep, name: str) -> PoolReport:
    """One pool."""
    return node.storage.pool(name)


@router.delete("/{name}", status_code=status.HTTP_204_NO_CONTENT)
def delete_pool(node: NodeDep, name: str) -> None:
    """Remove an empty pool; unknown is fine."""
    node.storage.delete_pool(name)


@router.get("/{pool}/volumes")
def list_volumes(node: NodeDep, pool: str) -> list[VolumeReport]:
    """The volumes of a pool."""
    return node.storage.volumes(pool)


@router.put("/{pool}/volumes/{name}")
def create_volume(node: NodeDep, pool: str, name: str, spec: VolumeSpec) -> VolumeReport:
    """Create a volume (a linked clone when ``backing_volume`` is set) unless it exists."""
    _same_name(name, spec.name)
    return node.storage.create_volume(pool, spec)


@router.get("/{pool}/volumes/{name}")
def get_volume(node: NodeDep, pool: str, name: str) -> VolumeReport:
    """One volume."""
    return node.storage.volume(pool, name)


@router.delete("/{pool}/volumes/{name}", status_code=status.HTTP_204_NO_CONTENT)
def delete_volume(node: NodeDep, pool: str, name: str) -> None:
    """Delete a volume; unknown is fine."""
    node.storage.delete_volume(pool, name)


@router.post("/{pool}/volumes/{name}/resize")
def resize_volume(node: NodeDep, pool: str, name: str, resize: VolumeResize) -> VolumeReport:
    """Grow a volume (of a stopped VM)."""
    return node.storage.resize_volume(pool, name, resize.capacity_mib)


@router.post("/{pool}/volumes/{name}/clone", status_code=status.HTTP_202_ACCEPTED)
def clone_volume(node: NodeDep, pool: str, name: str, clone: VolumeClone) -> Operation:
    """Full copy into a new volume (in another pool, converted, grown when asked); a long
    operation to poll."""

    def work() -> dict[str, object]:
        copy = node.storage.clone_volume(
            pool,
            name,
            clone.name,
            target_pool=clone.pool,
            fmt=clone.format,
            capacity_mib=clone.capacity_mib,
        )
        return copy.model_dump(mode="json")

    return node.operations.submit("clone_volume", f"{pool}/{name}", work)
