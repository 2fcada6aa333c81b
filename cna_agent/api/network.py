"""``/v1/networks``: DVS bridges with their VLAN port groups."""

from __future__ import annotations

from fastapi import APIRouter, status

from cna_agent.api.deps import NodeDep
from cna_agent.errors import InvalidSpec
from cna_agent.protocol import NetworkReport, NetworkSpec

router = APIRouter(prefix="/networks", tags=["network"])


@router.get("")
def list_networks(node: NodeDep) -> list[NetworkReport]:
    """The DVS networks this node has."""
    return node.networks.networks()


@router.put("/{name}")
def ensure_network(node: NodeDep, name: str, spec: NetworkSpec) -> NetworkReport:
    """Create or update a DVS network and its port groups."""
    if name != spec.name:
        raise InvalidSpec("the body's name differs from the URL's", code="name_mismatch")
    return node.networks.ensure(spec)


@router.get("/{name}")
def get_network(node: NodeDep, name: str) -> NetworkReport:
    """One network."""
    return node.networks.network(name)


@router.delete("/{name}", status_code=status.HTTP_204_NO_CONTENT)
def delete_network(node: NodeDep, name: str) -> None:
    """Remove a network no domain uses; unknown is fine."""
    node.networks.delete(name)
