"""The cloud-init NoCloud seed of a VM: who it is, its addresses, its user-data.

The node packs these files into the ISO it attaches (``cna_agent.seed``). They are
written as JSON, which is YAML too, so cloud-init reads them as it reads YAML:

- ``meta-data``: instance id (the VM's uuid), host name, SSH public keys;
- ``network-config`` (version 2): each NIC matched by MAC, with its static addresses,
  its pool's DNS servers and, for the first NIC of each IP version that has one, the
  default route through the pool's gateway; NICs without addresses use DHCP;
- ``user-data``: the VM's own, or an empty cloud-config.
"""

from __future__ import annotations

import json
import re
from typing import Any

from sqlalchemy.orm import Session

from cna_agent.protocol import SeedSpec
from vrm.models import IpPool, Vm, VmNic
from vrm.network import ipam

EMPTY_USER_DATA = "#cloud-config\n{}\n"


def needs_seed(vm: Vm) -> bool:
    """Whether the VM gets a seed: it has addresses, user-data or SSH keys."""
    return bool(vm.user_data or vm.ssh_keys or any(nic.ips for nic in vm.nics))


def seed_spec(session: Session, vm: Vm) -> SeedSpec | None:
    """The VM's seed (NICs loaded), or None when it needs none."""
    if not needs_seed(vm):
        return None
    meta: dict[str, Any] = {"instance-id": str(vm.uuid), "local-hostname": hostname(vm.name)}
    if vm.ssh_keys:
        meta["public-keys"] = list(vm.ssh_keys)
    return SeedSpec(
        meta_data=_dump(meta),
        network_config=_dump(network_config(session, sorted(vm.nics, key=lambda n: n.slot))),
        user_data=vm.user_data or EMPTY_USER_DATA,
    )


def network_config(session: Session, nics: list[VmNic]) -> dict[str, Any]:
    """Netplan-style version 2 configuration of ``nics`` (in slot order)."""
    ethernets: dict[str, Any] = {}
    routed: set[int] = set()
    for nic in nics:
        entry: dict[str, Any] = {"match": {"macaddress": nic.mac}, "set-name": f"eth{nic.slot}"}
        if not nic.allocations:
            entry |= {"dhcp4": True, "optional": True}
        addresses, routes, servers = [], [], []
        for allocation in nic.allocations:
            pool = session.get(IpPool, allocation.pool_id)
            assert pool is not None
            network = ipam.parse_cidr(pool.cidr)
            addresses.append(f"{allocation.address}/{network.prefixlen}")
            if pool.gateway and network.version not in routed:
                routed.add(network.version)
                default = "0.0.0.0/0" if network.version == 4 else "::/0"
                routes.append({"to": default, "via": pool.gateway})
            servers += [s for s in pool.dns_servers if s not in servers]
        if addresses:
            entry["addresses"] = addresses
        if routes:
            entry["routes"] = routes
        if servers:
            entry["nameservers"] = {"addresses": servers}
        ethernets[f"nic{nic.slot}"] = entry
    return {"version": 2, "ethernets": ethernets}


def hostname(name: str) -> str:
    """A VM name as a host name: lower case letters, digits and dashes, 63 at most."""
    label = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")[:63].strip("-")
    return label or "vm"


def _dump(value: dict[str, Any]) -> str:
    return json.dumps(value, indent=2, sort_keys=True) + "\n"
