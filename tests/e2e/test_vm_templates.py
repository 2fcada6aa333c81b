"""Devices, templates and clones through the REST API on a real agent (qemu:///system)."""

from __future__ import annotations

import json
import subprocess
import xml.etree.ElementTree as ET
from typing import Any

import httpx

from tests.cna_agent.conftest import PREFIX
from tests.e2e.vmlab import domain, run


def disk_paths(vm_uuid: str) -> dict[str, str]:
    root = ET.fromstring(domain(vm_uuid).XMLDesc(0))
    return {
        d.find("target").get("dev", ""): d.find("source").get("file", "")  # type: ignore[union-attr]
        for d in root.findall("devices/disk")
    }


def backing_of(path: str) -> str | None:
    info = json.loads(
        subprocess.run(
            ["qemu-img", "info", "-U", "--output=json", path],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    backing: str | None = info.get("backing-filename")
    return backing


def ovs_tags() -> dict[str, str]:
    out = subprocess.run(
        ["ovs-vsctl", "--format=json", "--columns=name,tag", "list", "port"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {row[0]: str(row[1]) for row in json.loads(out)["data"]}


def ok(admin: httpx.Client, response: httpx.Response) -> dict[str, Any]:
    task = run(admin, response)
    assert task["state"] == "succeeded", (task["error_code"], task["error_message"])
    return task


def test_devices_template_and_clones(admin: httpx.Client, node: dict[str, Any]) -> None:
    body = {
        "name": f"{PREFIX}golden",
        "cluster_id": node["cluster"],
        "vcpus": 1,
        "memory_mib": 128,
        "disks": [{"size_mib": 32}],
    }
    created = admin.post("/vms", json=body)
    vm = created.json()["vm"]
    ok(admin, created)
    base = f"/vms/{vm['id']}/actions"

    ok(admin, admin.post(f"{base}/attach-disk", json={"size_mib": 16}))
    assert sorted(disk_paths(vm["uuid"])) == ["vda", "vdb"]
    ok(admin, admin.post(f"{base}/attach-nic", json={"port_group_id": node["group"]}))
    mac = admin.get(f"/vms/{vm['id']}").json()["nics"][0]["mac"]
    ok(admin, admin.post(f"{base}/start"))
    root = ET.fromstring(domain(vm["uuid"]).XMLDesc(0))
    vnet = root.find("devices/interface/target").get("dev")  # type: ignore[union-attr]
    assert ovs_tags()[vnet] == "100", "the NIC sits on VLAN 100 on the node"
    ok(admin, admin.post(f"{base}/stop", json={"force": True, "timeout_s": 1}))
    ok(admin, admin.post(f"{base}/detach-nic", json={"mac": mac}))
    ok(admin, admin.post(f"{base}/detach-disk", json={"device": "vdb", "delete_volume": True}))
    assert sorted(disk_paths(vm["uuid"])) == ["vda"]
    assert admin.get(f"/vms/{vm['id']}").json()["nics"] == []

    ok(admin, admin.post(f"{base}/convert-to-template"))
    assert admin.get(f"/vms/{vm['id']}").json()["is_template"] is True
    refused = admin.post(f"{base}/start")
    assert refused.json()["error"]["code"] == "vm_is_template"
    template_disk = disk_paths(vm["uuid"])["vda"]

    linked = admin.post(f"{base}/clone", json={"name": f"{PREFIX}linked", "mode": "linked"})
    clone = linked.json()["vm"]
    ok(admin, linked)
    assert backing_of(disk_paths(clone["uuid"])["vda"]) == template_disk
    ok(admin, admin.post(f"/vms/{clone['id']}/actions/start"))
    assert domain(clone["uuid"]).isActive(), "the linked clone boots"
    assert admin.get(f"/vms/{vm['id']}").json()["task_state"] is None, "the template is free"

    full = admin.post(f"{base}/clone", json={"name": f"{PREFIX}full", "mode": "full"})
    copy = full.json()["vm"]
    ok(admin, full)
    assert backing_of(disk_paths(copy["uuid"])["vda"]) is None

    # The template's volume backs the linked clone: deleting it is refused, nothing lost.
    refused_delete = run(admin, admin.delete(f"/vms/{vm['id']}"))
    assert refused_delete["state"] == "failed"
    assert refused_delete["error_code"] == "volume_in_use"
    after = admin.get(f"/vms/{vm['id']}").json()
    assert after["state"] == "stopped"
    assert after["task_state"] is None
