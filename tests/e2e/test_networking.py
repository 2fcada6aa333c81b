"""Networking end to end: DVS pushed to the node, IP pools, a VM with two NICs on two VLAN
port groups, its addresses filtered and injected, released on delete and reused.

A real VRM, a real agent on qemu:///system (TCG guests), real Open vSwitch and libvirt
network filters. The guest has no OS, so the seed is checked as the guest would read it:
the ISO's files, parsed.
"""

from __future__ import annotations

import json
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import httpx

from cna_agent.seed import read_seed
from cna_agent.virt.plug import PlugNames
from tests.cna_agent.conftest import PREFIX
from tests.e2e.processes import wait_until
from tests.e2e.vmlab import domain, run, wait_task

SSH_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOpenVRMe2eTestKeyOnly operator@example"


def ovs(*args: str) -> str:
    done = subprocess.run(["ovs-vsctl", *args], capture_output=True, text=True, check=True)
    return done.stdout.strip()


def syncs_done(admin: httpx.Client, host_id: str) -> list[dict[str, Any]]:
    """Wait until no network sync of the host is queued or running; all its syncs."""

    def settled() -> list[dict[str, Any]] | None:
        params = {"type": "host.sync_networks", "target_id": host_id, "limit": 100}
        tasks: list[dict[str, Any]] = admin.get("/tasks", params=params).json()["items"]
        return tasks if all(t["state"] not in ("queued", "running") for t in tasks) else None

    return wait_until(settled, timeout_s=90, what="the host's network syncs")


def vm_body(node: dict[str, Any], groups: list[str], **extra: Any) -> dict[str, Any]:
    return {
        "name": f"{PREFIX}net-vm",
        "cluster_id": node["cluster"],
        "vcpus": 1,
        "memory_mib": 96,
        "disks": [{"size_mib": 32}],
        "nics": [{"port_group_id": g} for g in groups],
        **extra,
    }


def test_two_vlans_addresses_filters_seed_release_and_reuse(
    admin: httpx.Client, node: dict[str, Any]
) -> None:
    host = admin.get("/hosts").json()["items"][0]
    bridge = node["dvs"]["bridge"]
    v200 = admin.post(
        "/port-groups", json={"name": "v200", "dvs_id": node["dvs"]["id"], "vlan_id": 200}
    ).json()
    # The DVS and both port groups reach the node through its sync tasks.
    assert all(t["state"] == "succeeded" for t in syncs_done(admin, host["id"]))
    assert bridge in ovs("list-br").split()
    network = ET.fromstring(
        subprocess.run(
            ["virsh", "-c", "qemu:///system", "net-dumpxml", bridge],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    assert sorted(t.get("id") for t in network.iter("tag")) == ["100", "200"]

    pool100 = admin.post(
        "/ip-pools",
        json={
            "name": "p100",
            "port_group_id": node["group"],
            "cidr": "10.10.0.0/24",
            "gateway": "10.10.0.1",
            "dns_servers": ["10.10.0.2"],
            "ranges": [{"start": "10.10.0.10", "end": "10.10.0.20"}],
            "reserved": ["10.10.0.10"],
        },
    ).json()
    pool200 = admin.post(
        "/ip-pools",
        json={
            "name": "p200",
            "port_group_id": v200["id"],
            "cidr": "10.20.0.0/24",
            "gateway": "10.20.0.1",
            "ranges": [{"start": "10.20.0.10", "end": "10.20.0.99"}],
        },
    ).json()

    body = vm_body(node, [node["group"], v200["id"]], user_data="#cloud-config\nruncmd: [true]\n")
    body["nics"][1]["ips"] = ["10.20.0.50"]
    body["ssh_keys"] = [SSH_KEY]
    body["power_on"] = True
    created = admin.post("/vms", json=body)
    vm = created.json()["vm"]
    task = run(admin, created)
    assert task["state"] == "succeeded", task
    nics = admin.get(f"/vms/{vm['id']}").json()["nics"]
    assert [n["ips"] for n in nics] == [["10.10.0.11"], ["10.20.0.50"]]
    macs = [n["mac"] for n in nics]
    listed = admin.get(f"/ip-pools/{pool100['id']}/allocations", params={"reserved": "false"})
    assert [(a["address"], a["mac"]) for a in listed.json()["items"]] == [("10.10.0.11", macs[0])]
    assert admin.get(f"/ip-pools/{pool100['id']}").json()["used"] == 2  # with the reservation

    # On the node: the VLANs on the NICs' OVS ports, the filters with their addresses.
    for mac, tag in zip(macs, ("100", "200"), strict=True):
        assert ovs("get", "port", PlugNames.of(mac).ovs_port, "tag") == tag
    dom = domain(vm["uuid"])
    live = ET.fromstring(dom.XMLDesc(0))
    refs = [
        [p.get("value") for p in iface.iter("parameter")]
        for iface in live.findall("devices/interface")
    ]
    assert refs == [["10.10.0.11"], ["10.20.0.50"]]
    assert all(f.get("filter") == "clean-traffic" for f in live.iter("filterref")), (
        "IPv4 only: libvirt's own filter"
    )

    # The seed the guest would read.
    source = live.find("devices/disk[@device='cdrom']/source")
    assert source is not None
    files = read_seed(Path(source.get("file", "")).read_bytes())
    meta = json.loads(files["meta-data"])
    assert meta == {
        "instance-id": vm["uuid"],
        "local-hostname": "ovrmtest-net-vm",
        "public-keys": [SSH_KEY],
    }
    config = json.loads(files["network-config"])
    assert config == {
        "version": 2,
        "ethernets": {
            "nic0": {
                "match": {"macaddress": macs[0]},
                "set-name": "eth0",
                "addresses": ["10.10.0.11/24"],
                "routes": [{"to": "0.0.0.0/0", "via": "10.10.0.1"}],
                "nameservers": {"addresses": ["10.10.0.2"]},
            },
            "nic1": {
                "match": {"macaddress": macs[1]},
                "set-name": "eth1",
                "addresses": ["10.20.0.50/24"],
            },
        },
    }
    assert files["user-data"] == "#cloud-config\nruncmd: [true]\n"

    # A new address for the running first NIC: its filter and the seed follow.
    moved = admin.post(
        f"/vms/{vm['id']}/actions/set-ips", json={"mac": macs[0], "ips": ["10.10.0.15"]}
    )
    assert run(admin, moved)["state"] == "succeeded"
    live = ET.fromstring(dom.XMLDesc(0))
    first = live.find("devices/interface/filterref/parameter")
    assert first is not None
    assert first.get("value") == "10.10.0.15"
    seed = json.loads(read_seed(Path(source.get("file", "")).read_bytes())["network-config"])
    assert seed["ethernets"]["nic0"]["addresses"] == ["10.10.0.15/24"]

    # A VLAN change reaches the running NIC's port.
    patched = admin.patch(f"/port-groups/{node['group']}", json={"vlan_id": 101})
    assert patched.status_code == 200, patched.text
    assert all(t["state"] == "succeeded" for t in syncs_done(admin, host["id"]))
    assert ovs("get", "port", PlugNames.of(macs[0]).ovs_port, "tag") == "101"

    # Delete: the addresses go back once the domain is gone; a new VM gets them again.
    stopped = run(admin, admin.post(f"/vms/{vm['id']}/actions/stop", json={"mode": "poweroff"}))
    assert stopped["state"] == "succeeded", stopped
    deleted = admin.delete(f"/vms/{vm['id']}")
    assert wait_task(admin, deleted.json()["task"]["id"])["state"] == "succeeded"
    assert admin.get(f"/ip-pools/{pool100['id']}").json()["used"] == 1
    assert admin.get(f"/ip-pools/{pool200['id']}").json()["used"] == 0
    assert not Path(source.get("file", "")).exists()
    gone = subprocess.run(["ip", "link", "show", "dev", PlugNames.of(macs[0]).bridge], check=False)
    assert gone.returncode != 0
    again = admin.post("/vms", json=vm_body(node, [node["group"], v200["id"]]))
    assert run(admin, again)["state"] == "succeeded"
    assert [n["ips"] for n in again.json()["vm"]["nics"]] == [["10.10.0.11"], ["10.20.0.10"]]
