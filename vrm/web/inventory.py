"""The inventory tree the VM pages show: site → cluster → host, with VM counts."""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import RowMapping
from sqlalchemy.orm import Session

from vrm.web.repository import InventoryRepository

# A host's branch lists at most this many VMs; the table shows all of them.
VMS_PER_HOST = 100


@dataclass(slots=True)
class HostNode:
    """A host and how many VMs it runs."""

    id: uuid.UUID
    name: str
    state: str
    vms: int = 0


@dataclass(slots=True)
class ClusterNode:
    """A cluster, its hosts and its VMs (those on no host too)."""

    id: uuid.UUID
    name: str
    hosts: list[HostNode] = field(default_factory=list)
    vms: int = 0


@dataclass(slots=True)
class SiteNode:
    """A site and its clusters."""

    id: uuid.UUID
    name: str
    clusters: list[ClusterNode] = field(default_factory=list)


def tree(session: Session) -> list[SiteNode]:
    """The whole tree down to hosts (four statements, however large the inventory)."""
    repo = InventoryRepository(session)
    hosts: dict[uuid.UUID, list[HostNode]] = defaultdict(list)
    by_id: dict[uuid.UUID, HostNode] = {}
    for row in repo.hosts():
        node = HostNode(row["id"], row["name"], str(row["state"]))
        hosts[row["cluster_id"]].append(node)
        by_id[row["id"]] = node
    per_cluster: dict[uuid.UUID, int] = defaultdict(int)
    for row in repo.vm_counts():
        per_cluster[row["cluster_id"]] += row["n"]
        if row["host_id"] in by_id:
            by_id[row["host_id"]].vms += row["n"]
    clusters: dict[uuid.UUID, list[ClusterNode]] = defaultdict(list)
    for row in repo.clusters():
        branch = ClusterNode(row["id"], row["name"], hosts[row["id"]], per_cluster[row["id"]])
        clusters[row["site_id"]].append(branch)
    return [SiteNode(row["id"], row["name"], clusters[row["id"]]) for row in repo.sites()]


def vms_on(session: Session, host_id: uuid.UUID) -> list[RowMapping]:
    """The VMs a host's branch lists."""
    return list(InventoryRepository(session).vms_on(host_id, VMS_PER_HOST))
