"""Small typed factories for network rows the API cannot create yet (NICs, allocations).

They commit, as a real writer would; in tests that only releases a savepoint.
"""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from tests.factories import add_vm
from vrm.models import Cluster, IpAllocation, VmNic
from vrm.sites.repository import DEFAULT_SITE_ID


def add_cluster(session: Session, *, name: str | None = None) -> Cluster:
    """A cluster in the default site."""
    cluster = Cluster(site_id=DEFAULT_SITE_ID, name=name or f"cl-{uuid.uuid4().hex[:8]}")
    session.add(cluster)
    session.commit()
    return cluster


def random_mac() -> str:
    """A locally administered unicast MAC address."""
    octets = uuid.uuid4().bytes[:5]
    return "02:" + ":".join(f"{b:02x}" for b in octets)


def add_nic(session: Session, port_group_id: uuid.UUID, *, slot: int = 0) -> VmNic:
    """A NIC of a new stopped VM (in a new cluster) on ``port_group_id``."""
    vm = add_vm(session, add_cluster(session).id)
    nic = VmNic(vm_id=vm.id, port_group_id=port_group_id, slot=slot, mac=random_mac())
    session.add(nic)
    session.commit()
    return nic


def add_allocation(
    session: Session,
    pool_id: uuid.UUID,
    address: str,
    *,
    nic: VmNic | None = None,
    reserved: bool = False,
) -> IpAllocation:
    """An address of ``pool_id``, bound to ``nic`` when given."""
    allocation = IpAllocation(
        pool_id=pool_id,
        address=address,
        nic_id=nic.id if nic else None,
        mac=nic.mac if nic else None,
        reserved=reserved,
    )
    session.add(allocation)
    session.commit()
    return allocation
