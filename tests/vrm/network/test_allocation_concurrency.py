"""1,000 concurrent allocations against one pool, on SQLite and PostgreSQL.

Each allocation runs in its own transaction on its own connection, as concurrent API
requests do. The pool holds 900 addresses: exactly 900 NICs get one, no address twice,
the other 100 get ``ip_pool_exhausted``, and the pool's counts are exact.
"""

from __future__ import annotations

import ipaddress
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import Engine, func, insert, select
from sqlalchemy.orm import Session, sessionmaker

from vrm.db import make_session_factory
from vrm.errors import Conflict
from vrm.models import Cluster, Dvs, IpAllocation, IpPool, IpRange, PortGroup, Vm, VmNic
from vrm.network import allocator
from vrm.network.pools import get_pool
from vrm.sites.repository import DEFAULT_SITE_ID

NICS = 1000
ADDRESSES = 900
THREADS = 16
FIRST = ipaddress.ip_address("10.20.0.10")


def _seed(factory: sessionmaker[Session]) -> tuple[uuid.UUID, list[uuid.UUID]]:
    """A pool of 900 addresses on a port group, and 1,000 NICs on it; their ids."""
    tag = uuid.uuid4().hex[:8]
    with factory() as session:
        cluster = Cluster(site_id=DEFAULT_SITE_ID, name=f"alloc-{tag}")
        dvs = Dvs(site_id=DEFAULT_SITE_ID, name=f"alloc-{tag}", bridge=f"ova{tag}")
        session.add_all([cluster, dvs])
        session.flush()
        group = PortGroup(dvs_id=dvs.id, name="pg", vlan_id=20)
        session.add(group)
        session.flush()
        pool = IpPool(port_group_id=group.id, name=f"alloc-{tag}", cidr="10.20.0.0/20")
        session.add(pool)
        session.flush()
        last = FIRST + ADDRESSES - 1
        session.add(IpRange(pool_id=pool.id, start=str(FIRST), end=str(last)))
        vms = [
            {
                "id": uuid.uuid4(),
                "uuid": uuid.uuid4(),
                "cluster_id": cluster.id,
                "name": f"vm-{i}",
                "vcpus": 1,
                "max_vcpus": 1,
                "memory_mib": 64,
                "max_memory_mib": 64,
            }
            for i in range(NICS // 10)
        ]
        session.execute(insert(Vm), vms)
        nics = [
            {
                "id": uuid.uuid4(),
                "vm_id": vm["id"],
                "port_group_id": group.id,
                "slot": slot,
                "mac": f"0a:{tag[:2]}:{tag[2:4]}:{tag[4:6]}:{i:02x}:{slot:02x}",
            }
            for i, vm in enumerate(vms)
            for slot in range(10)
        ]
        session.execute(insert(VmNic), nics)
        session.commit()
        return pool.id, [nic["id"] for nic in nics]


def _allocate(
    factory: sessionmaker[Session], nic_id: uuid.UUID, start: threading.Event
) -> str | None:
    """One NIC's address in its own transaction, or the error code."""
    assert start.wait(timeout=120)
    with factory() as session:
        nic = session.get(VmNic, nic_id)
        assert nic is not None
        try:
            taken = allocator.assign(session, nic)
        except Conflict as exc:
            session.rollback()
            return exc.code
        session.commit()
        assert len(taken) == 1
        return None


def test_concurrent_allocations_never_hand_out_an_address_twice(
    committed_engine: Engine,
) -> None:
    factory = make_session_factory(committed_engine)
    pool_id, nic_ids = _seed(factory)
    start = threading.Event()
    with ThreadPoolExecutor(max_workers=THREADS) as workers:
        futures = [workers.submit(_allocate, factory, nic_id, start) for nic_id in nic_ids]
        start.set()
        outcomes = [future.result(timeout=600) for future in futures]

    assert outcomes.count(None) == ADDRESSES
    assert outcomes.count("ip_pool_exhausted") == NICS - ADDRESSES
    with factory() as session:
        rows = session.execute(
            select(IpAllocation.address, IpAllocation.nic_id, IpAllocation.mac).where(
                IpAllocation.pool_id == pool_id
            )
        ).all()
        macs = dict(session.execute(select(VmNic.id, VmNic.mac)).all())
        view = get_pool(session, pool_id=pool_id)
        per_nic = session.execute(
            select(func.count()).select_from(IpAllocation).where(IpAllocation.nic_id.in_(nic_ids))
        ).scalar_one()
    addresses = [row.address for row in rows]
    assert len(addresses) == len(set(addresses)) == ADDRESSES
    assert {ipaddress.ip_address(a) for a in addresses} == {FIRST + i for i in range(ADDRESSES)}
    assert len({row.nic_id for row in rows}) == ADDRESSES == per_nic
    assert all(row.mac == macs[row.nic_id] for row in rows)
    assert (view.bound, list(view.reserved)) == (ADDRESSES, [])
