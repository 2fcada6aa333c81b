"""Typed factories for placement: clusters with settings, sized hosts, placed VMs, rules.

They commit, as a real writer would; in the rolled-back tests that only releases a savepoint.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy.orm import Session

from tests.factories import link_host_datastore
from vrm.models import (
    Cluster,
    Datastore,
    Dvs,
    Host,
    PlacementRule,
    PlacementRuleHost,
    PlacementRuleVm,
    PortGroup,
    Site,
    Vm,
)
from vrm.models.enums import (
    DatastoreType,
    HostState,
    ObjectState,
    PlacementPolicy,
    RuleKind,
)
from vrm.scheduler.views import HOST_RESERVED_MIB
from vrm.sites.repository import DEFAULT_SITE_ID


def guest_gib(n: int) -> int:
    """Host memory (MiB) that leaves ``n`` GiB for guests once the host reserve is taken."""
    return n * 1024 + HOST_RESERVED_MIB


def add_cluster(
    session: Session,
    *,
    name: str | None = None,
    cpu_overcommit: float = 1.0,
    mem_overcommit: float = 1.0,
    policy: PlacementPolicy = PlacementPolicy.SPREAD,
    site_id: uuid.UUID = DEFAULT_SITE_ID,
) -> Cluster:
    """A cluster with the given overcommit ratios and placement policy."""
    cluster = Cluster(
        site_id=site_id,
        name=name or f"cl-{uuid.uuid4().hex[:8]}",
        cpu_overcommit=cpu_overcommit,
        mem_overcommit=mem_overcommit,
        placement_policy=policy,
    )
    session.add(cluster)
    session.commit()
    return cluster


def add_sized_host(
    session: Session,
    cluster_id: uuid.UUID,
    name: str,
    *,
    cpus: int = 8,
    memory_mib: int = guest_gib(8),
    state: HostState = HostState.NORMAL,
    cpu_percent: float = 0.0,
) -> Host:
    """A host with ``cpus`` logical CPUs (one socket, one thread per core) and memory."""
    host = Host(
        cluster_id=cluster_id,
        name=name,
        address="127.0.0.1",
        agent_url=f"http://127.0.0.1:7070/{name}",
        state=state,
        cpu_sockets=1,
        cpu_cores=cpus,
        cpu_threads=1,
        memory_mib=memory_mib,
        usage={"cpu_percent": cpu_percent},
    )
    session.add(host)
    session.commit()
    return host


def place_vm(
    session: Session,
    cluster_id: uuid.UUID,
    host_id: uuid.UUID | None,
    *,
    vcpus: int = 1,
    memory_mib: int = 1024,
    is_template: bool = False,
    name: str | None = None,
) -> Vm:
    """A VM of ``cluster_id`` placed on ``host_id`` (None: not placed)."""
    vm = Vm(
        cluster_id=cluster_id,
        host_id=host_id,
        name=name or f"vm-{uuid.uuid4().hex[:8]}",
        vcpus=vcpus,
        max_vcpus=vcpus,
        memory_mib=memory_mib,
        max_memory_mib=memory_mib,
        is_template=is_template,
    )
    session.add(vm)
    session.commit()
    return vm


def add_reached_datastore(
    session: Session,
    host_ids: Sequence[uuid.UUID],
    name: str,
    *,
    capacity_mib: int = 100_000,
    allocated_mib: int = 0,
    type: DatastoreType = DatastoreType.LOCAL_DIR,
    state: ObjectState = ObjectState.AVAILABLE,
) -> Datastore:
    """A datastore of the default site that ``host_ids`` reach."""
    datastore = Datastore(
        site_id=DEFAULT_SITE_ID,
        name=name,
        type=type,
        state=state,
        capacity_mib=capacity_mib,
        allocated_mib=allocated_mib,
    )
    session.add(datastore)
    session.commit()
    for host_id in host_ids:
        link_host_datastore(session, host_id, datastore.id)
    return datastore


def add_rule(
    session: Session,
    cluster_id: uuid.UUID,
    kind: RuleKind,
    vm_ids: Sequence[uuid.UUID],
    host_ids: Sequence[uuid.UUID] = (),
    *,
    enabled: bool = True,
) -> PlacementRule:
    """A placement rule naming ``vm_ids`` and ``host_ids``."""
    rule = PlacementRule(
        cluster_id=cluster_id, name=f"rule-{uuid.uuid4().hex[:8]}", kind=kind, enabled=enabled
    )
    session.add(rule)
    session.flush()
    session.add_all(PlacementRuleVm(rule_id=rule.id, vm_id=v) for v in vm_ids)
    session.add_all(PlacementRuleHost(rule_id=rule.id, host_id=h) for h in host_ids)
    session.commit()
    return rule


def add_site(session: Session, name: str) -> Site:
    """A site besides the default one."""
    site = Site(name=name)
    session.add(site)
    session.commit()
    return site


def add_port_group(session: Session, site_id: uuid.UUID = DEFAULT_SITE_ID) -> PortGroup:
    """A port group on a new DVS of ``site_id``."""
    tag = uuid.uuid4().hex[:8]
    dvs = Dvs(site_id=site_id, name=f"dvs-{tag}", bridge=f"ovs-{tag}")
    session.add(dvs)
    session.flush()
    port_group = PortGroup(dvs_id=dvs.id, name=f"pg-{tag}")
    session.add(port_group)
    session.commit()
    return port_group
