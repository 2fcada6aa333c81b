"""A VM's whole life through the REST API, on a real agent and qemu:///system (TCG)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import httpx
import libvirt
import pytest

from tests.cna_agent.conftest import PREFIX
from tests.e2e.vmlab import domain, run


def test_vm_create_run_resize_snapshot_stop_delete(
    admin: httpx.Client, node: dict[str, Any]
) -> None:
    body = {
        "name": f"{PREFIX}vm",
        "cluster_id": node["cluster"],
        "vcpus": 1,
        "max_vcpus": 2,
        "memory_mib": 128,
        "max_memory_mib": 256,
        "disks": [{"size_mib": 64}],
        "nics": [{"port_group_id": node["group"]}],
    }
    created = admin.post("/vms", json=body)
    vm = created.json()["vm"]
    task = run(admin, created)
    assert task["state"] == "succeeded", task
    assert task["progress"] == 100
    assert admin.get(f"/vms/{vm['id']}").json()["state"] == "stopped"
    dom = domain(vm["uuid"])
    assert dom.vcpusFlags(libvirt.VIR_DOMAIN_AFFECT_CONFIG | libvirt.VIR_DOMAIN_VCPU_MAXIMUM) == 2
    assert dom.maxMemory() == 256 * 1024
    disk = ET.fromstring(dom.XMLDesc(0)).find("devices/disk/source")
    assert disk is not None
    assert Path(disk.get("file", "")).exists()

    assert run(admin, admin.post(f"/vms/{vm['id']}/actions/start"))["state"] == "succeeded"
    assert dom.isActive()
    assert admin.get(f"/vms/{vm['id']}").json()["state"] == "running"

    assert run(admin, admin.post(f"/vms/{vm['id']}/actions/pause"))["state"] == "succeeded"
    assert dom.state()[0] == libvirt.VIR_DOMAIN_PAUSED
    assert run(admin, admin.post(f"/vms/{vm['id']}/actions/resume"))["state"] == "succeeded"
    assert dom.state()[0] == libvirt.VIR_DOMAIN_RUNNING

    resized = run(admin, admin.post(f"/vms/{vm['id']}/actions/resize", json={"vcpus": 2}))
    assert resized["state"] == "succeeded", resized
    assert dom.vcpusFlags(libvirt.VIR_DOMAIN_AFFECT_LIVE) == 2
    assert admin.get(f"/vms/{vm['id']}").json()["vcpus"] == 2

    snap = run(admin, admin.post(f"/vms/{vm['id']}/actions/snapshot", json={"name": "s1"}))
    assert snap["state"] == "succeeded", snap
    assert dom.snapshotListNames() == ["s1"]

    stopped = run(
        admin, admin.post(f"/vms/{vm['id']}/actions/stop", json={"force": True, "timeout_s": 2})
    )
    assert stopped["state"] == "succeeded", stopped
    assert not dom.isActive()

    deleted = run(admin, admin.delete(f"/vms/{vm['id']}"))
    assert deleted["state"] == "succeeded", deleted
    assert admin.get(f"/vms/{vm['id']}").status_code == 404
    with pytest.raises(libvirt.libvirtError):
        domain(vm["uuid"])
    assert not Path(disk.get("file", "")).exists(), "its volume went with it"


def test_graceful_stop_without_force_fails_clearly(
    admin: httpx.Client, node: dict[str, Any]
) -> None:
    body = {
        "name": f"{PREFIX}stubborn",
        "cluster_id": node["cluster"],
        "vcpus": 1,
        "memory_mib": 128,
        "disks": [{"size_mib": 16}],
        "power_on": True,
    }
    created = admin.post("/vms", json=body)
    vm = created.json()["vm"]
    assert run(admin, created)["state"] == "succeeded"
    assert admin.get(f"/vms/{vm['id']}").json()["state"] == "running"
    # A guest without an OS ignores ACPI: the stop fails, and the VM is still running.
    failed = run(admin, admin.post(f"/vms/{vm['id']}/actions/stop", json={"timeout_s": 1}))
    assert failed["state"] == "failed"
    assert failed["error_code"] == "stop_timeout"
    after = admin.get(f"/vms/{vm['id']}").json()
    assert after["state"] == "running"
    assert after["task_state"] is None
    assert domain(vm["uuid"]).isActive()
