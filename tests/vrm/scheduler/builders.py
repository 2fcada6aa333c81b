"""Plain views for the pure filter and weight tests: a cluster, hosts, requests, contexts."""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any

from vrm.scheduler.interface import PlacementRequest
from vrm.scheduler.views import HOST_RESERVED_MIB, ClusterView, HostView, PlacementContext

SITE = uuid.uuid4()
CLUSTER = ClusterView(uuid.uuid4(), "prod", SITE)
VM = uuid.uuid4()


def host(name: str = "h1", **changes: Any) -> HostView:
    """A normal host of CLUSTER with 8 CPUs and 8 GiB for guests, nothing placed."""
    base = HostView(
        id=uuid.uuid4(),
        name=name,
        cluster_id=CLUSTER.id,
        cpus=8,
        memory_mib=8192 + HOST_RESERVED_MIB,
    )
    return replace(base, **changes)


def request(**changes: Any) -> PlacementRequest:
    """One vCPU and 1 GiB in CLUSTER for the VM ``VM``."""
    return replace(
        PlacementRequest(cluster_id=CLUSTER.id, vcpus=1, memory_mib=1024, vm_id=VM), **changes
    )


def ctx(*hosts: HostView, **changes: Any) -> PlacementContext:
    """The context of CLUSTER, naming ``hosts``."""
    names = {h.id: h.name for h in hosts}
    return replace(PlacementContext(cluster=CLUSTER, host_names=names), **changes)
