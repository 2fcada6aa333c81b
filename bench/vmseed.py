"""10,000 VMs for the fleet's hosts, written straight into the database.

Creating them through the API would take as long as the benchmark; what matters here is
what VRM reads and writes afterwards. Each VM is the domain its simulated host reports
(same uuid, running), with one disk on the host's datastore and one NIC on a VLAN port
group, so heartbeats reconcile without corrections. The port group's DVS belongs to a
site of its own: hosts turning normal get no DVS push task for agents that are not there.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Engine, insert, select

from bench.fleet import Fleet
from bench.fleet.wire import domains
from vrm.models import Dvs, HostDatastore, PortGroup, Site, Vm, VmDisk, VmNic, Volume
from vrm.models.enums import ObjectState, VmState


def seed_vms(engine: Engine, fleet: Fleet, per_host: int) -> list[uuid.UUID]:
    """``per_host`` VMs on every host of ``fleet``; their ids."""
    with engine.begin() as connection:
        stores = dict(
            connection.execute(select(HostDatastore.host_id, HostDatastore.datastore_id)).all()
        )
        group = _port_group(connection)
        rows: dict[type[Any], list[dict[str, Any]]] = {Vm: [], Volume: [], VmDisk: [], VmNic: []}
        for host in fleet.hosts:
            for number, domain in enumerate(domains(host.hostname, per_host)):
                _vm(rows, fleet.cluster_id, host.host_id, stores[host.host_id], group, domain.uuid)
                rows[Vm][-1]["name"] = f"{host.hostname}-vm{number:03d}"
        for model in (Vm, Volume, VmDisk, VmNic):
            connection.execute(insert(model), rows[model])
    return [row["id"] for row in rows[Vm]]


def _port_group(connection: Any) -> uuid.UUID:
    site_id, dvs_id, group_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    connection.execute(insert(Site), [{"id": site_id, "name": f"bench-{site_id.hex[:6]}"}])
    connection.execute(
        insert(Dvs), [{"id": dvs_id, "site_id": site_id, "name": "bench", "bridge": "br-bench"}]
    )
    connection.execute(
        insert(PortGroup), [{"id": group_id, "dvs_id": dvs_id, "name": "vlan100", "vlan_id": 100}]
    )
    return group_id


def _vm(
    rows: dict[type[Any], list[dict[str, Any]]],
    cluster_id: str,
    host_id: uuid.UUID,
    datastore_id: uuid.UUID,
    group_id: uuid.UUID,
    domain_uuid: uuid.UUID,
) -> None:
    vm_id, volume_id = uuid.uuid4(), uuid.uuid4()
    rows[Vm].append(
        {
            "id": vm_id,
            "uuid": domain_uuid,
            "cluster_id": uuid.UUID(cluster_id),
            "host_id": host_id,
            "vcpus": 2,
            "max_vcpus": 2,
            "memory_mib": 2048,
            "max_memory_mib": 2048,
            "state": VmState.RUNNING,
        }
    )
    rows[Volume].append(
        {
            "id": volume_id,
            "datastore_id": datastore_id,
            "name": f"vm-{vm_id.hex}-disk0",
            "capacity_mib": 20_480,
            "state": ObjectState.IN_USE,
        }
    )
    rows[VmDisk].append({"vm_id": vm_id, "volume_id": volume_id, "device": "vda"})
    mac = vm_id.hex[:10]
    rows[VmNic].append(
        {
            "vm_id": vm_id,
            "port_group_id": group_id,
            "slot": 0,
            "mac": "02:" + ":".join(mac[i : i + 2] for i in range(0, 10, 2)),
        }
    )
