"""Live and cold migration between two real lab hosts, driven through VRM's API.

Each host has its own libvirtd, Open vSwitch and agent; the VMs' disks are on a
datastore both hosts share. Slow migrations (to cancel, abort or kill VRM under them)
use the tiny Linux guest, whose memory is mostly not zero, with a low bandwidth cap.
"""

from __future__ import annotations

import contextlib
from typing import Any

import httpx
import libvirt
import pytest

from cna_agent.virt.plug import PlugNames
from tests.e2e.processes import wait_until
from tests.e2e.vmlab import wait_task
from tests.media import tiny_iso
from tests.migration.lab import Lab

# Slow enough to act while it runs: the tiny guest has tens of MiB of non-zero memory.
SLOW = {"bandwidth_mib_s": 1}


@pytest.fixture(scope="module")
def iso(lab: Lab) -> dict[str, Any]:
    """The tiny guest's ISO as an image on the shared datastore."""
    path = tiny_iso()
    image = lab.admin.post(
        "/images", json={"name": "lab-tiny", "format": "iso", "datastore_id": lab.shared}
    ).json()["image"]
    with path.open("rb") as data:
        done = lab.admin.put(f"/images/{image['id']}/data", content=data, timeout=120)
    assert done.status_code == 200, done.text
    return image


def migrate(lab: Lab, vm_id: str, **body: Any) -> httpx.Response:
    return lab.admin.post(f"/vms/{vm_id}/actions/migrate", json=body)


def migrated(lab: Lab, vm_id: str, **body: Any) -> dict[str, Any]:
    answer = migrate(lab, vm_id, **body)
    assert answer.status_code == 202, answer.text
    assert answer.json()["vm"]["state"] == "migrating"
    return wait_task(lab.admin, answer.json()["task"]["id"])


def where(lab: Lab, vm_uuid: str) -> dict[int, str]:
    """Each host that has the domain, with its state (running, shut off, ...)."""
    found = {}
    for index in range(len(lab.hosts)):
        conn = lab.conn(index)
        try:
            with contextlib.suppress(libvirt.libvirtError):
                dom = conn.lookupByUUIDString(vm_uuid)
                found[index] = "running" if dom.isActive() else "shut off"
        finally:
            conn.close()
    return found


def ovs_tag(lab: Lab, index: int, mac: str) -> str | None:
    port = PlugNames.of(mac).ovs_port
    done = lab.hosts[index].run(["ovs-vsctl", "get", "port", port, "tag"], check=False)
    return done.stdout.strip() if done.returncode == 0 else None


def bindings(lab: Lab, index: int) -> list[str]:
    """The MACs of the host's nwfilter bindings."""
    conn = lab.conn(index)
    try:
        return [b.XMLDesc().split("<mac address='")[1][:17] for b in conn.listAllNWFilterBindings()]
    finally:
        conn.close()


def running_task(lab: Lab, task_id: str, *, progress: int = 11) -> dict[str, Any]:
    """Wait until the migration task runs and has moved past its preparation."""

    def moving() -> dict[str, Any] | None:
        task: dict[str, Any] = lab.admin.get(f"/tasks/{task_id}").json()
        assert task["state"] in ("queued", "running"), task
        return task if task["state"] == "running" and task["progress"] >= progress else None

    return wait_until(moving, timeout_s=60, what="the migration to be under way")


def test_a_running_vm_moves_with_its_network_and_back(lab: Lab, vms: list[str]) -> None:
    vm = lab.make_vm("live")
    vms.append(vm["id"])
    mac = vm["nics"][0]["mac"]
    assert vm["nics"][0]["ips"], "the NIC has an address: its traffic is filtered"
    source = lab.host_index(vm["host_id"])
    target = 1 - source
    assert ovs_tag(lab, source, mac) == "100"

    task = migrated(lab, vm["id"])  # the scheduler picks the only other host
    assert task["state"] == "succeeded", (task["error_code"], task["error_message"])
    figures = task["result"]["migration"]["result"]
    assert figures["data_bytes"] > 0
    assert "downtime_ms" in figures
    after = lab.admin.get(f"/vms/{vm['id']}").json()
    assert (after["host_id"], after["state"]) == (lab.host_ids[target], "running")
    assert where(lab, vm["uuid"]) == {target: "running"}
    # The NIC's plumbing and filter moved with it.
    assert ovs_tag(lab, target, mac) == "100"
    assert mac in bindings(lab, target)
    assert ovs_tag(lab, source, mac) is None
    assert mac not in bindings(lab, source)
    # Hosts' placed counters followed.
    placed = {h["id"]: h["placed_memory_mib"] for h in lab.admin.get("/hosts").json()["items"]}
    assert placed[lab.host_ids[target]] >= 64

    back = migrated(lab, vm["id"], host_id=lab.host_ids[source])
    assert back["state"] == "succeeded", back
    assert where(lab, vm["uuid"]) == {source: "running"}
    assert lab.admin.get(f"/vms/{vm['id']}").json()["host_id"] == lab.host_ids[source]
    assert ovs_tag(lab, source, mac) == "100"


def test_a_stopped_vm_moves_cold(lab: Lab, vms: list[str]) -> None:
    vm = lab.make_vm("cold", power_on=False)
    vms.append(vm["id"])
    source = lab.host_index(vm["host_id"])
    task = migrated(lab, vm["id"], host_id=lab.host_ids[1 - source])
    assert task["state"] == "succeeded", (task["error_code"], task["error_message"])
    assert where(lab, vm["uuid"]) == {1 - source: "shut off"}
    after = lab.admin.get(f"/vms/{vm['id']}").json()
    assert (after["host_id"], after["state"]) == (lab.host_ids[1 - source], "stopped")
    started = lab.admin.post(f"/vms/{vm['id']}/actions/start")
    assert wait_task(lab.admin, started.json()["task"]["id"])["state"] == "succeeded"
    assert where(lab, vm["uuid"]) == {1 - source: "running"}


def test_refusals_name_their_reason(lab: Lab, vms: list[str]) -> None:
    vm = lab.make_vm("refused", power_on=False)
    vms.append(vm["id"])
    source = lab.host_ids[lab.host_index(vm["host_id"])]
    other = lab.host_ids[1 - lab.host_index(vm["host_id"])]

    def refused(body: dict[str, Any], status: int = 409) -> dict[str, Any]:
        answer = migrate(lab, vm["id"], **body)
        assert answer.status_code == status, answer.text
        error: dict[str, Any] = answer.json()["error"]
        return error

    assert refused({"host_id": source})["code"] == "migration_target_is_source"
    assert refused({"host_id": "nope"}, 422)["code"] == "validation_error"
    assert refused({"bandwidth_mib_s": 0}, 422)["code"] == "validation_error"
    # Capacity: with no CPU overcommit, a 2-vCPU VM fills a 2-CPU host.
    cpus = next(h for h in lab.admin.get("/hosts").json()["items"] if h["id"] == other)
    lab.admin.patch(f"/clusters/{lab.cluster}", json={"cpu_overcommit": 1})
    try:
        filler = lab.make_vm(
            "filler", power_on=False, vcpus=cpus["capabilities"].get("cpus", 2), host_id=other
        )
        vms.append(filler["id"])
        error = refused({"host_id": other})
        assert error["code"] == "insufficient_capacity", error
        assert "cpu" in error["message"]
    finally:
        lab.admin.patch(f"/clusters/{lab.cluster}", json={"cpu_overcommit": 4})
    # CPU: a cluster CPU model the hosts cannot offer.
    lab.admin.patch(f"/clusters/{lab.cluster}", json={"cpu_mode": "Cooperlake"})
    try:
        error = refused({"host_id": other})
        assert error["code"] == "cpu_incompatible", error
    finally:
        lab.admin.patch(f"/clusters/{lab.cluster}", json={"cpu_mode": "host-model"})
    # Nothing was claimed by the refusals.
    assert lab.admin.get(f"/vms/{vm['id']}").json()["state"] == "stopped"


def test_a_port_group_the_target_lacks_is_refused(lab: Lab, vms: list[str]) -> None:
    dvs = lab.admin.get("/dvs").json()["items"][0]
    group = lab.admin.post(
        "/port-groups", json={"name": "v300", "dvs_id": dvs["id"], "vlan_id": 300}
    ).json()
    wait_until(
        lambda: all(
            t["state"] == "succeeded"
            for t in lab.admin.get("/tasks", params={"type": "host.sync_networks"}).json()["items"]
        ),
        timeout_s=60,
        what="the port group on both hosts",
    )
    vm = lab.make_vm("no-group", power_on=False, nics=[{"port_group_id": group["id"]}])
    vms.append(vm["id"])
    target = 1 - lab.host_index(vm["host_id"])
    # The target's network loses the port group (an operator's mistake on the node).
    lab.hosts[target].run(
        [
            "virsh",
            "-c",
            "qemu:///system",
            "net-update",
            lab.bridge,
            "delete",
            "portgroup",
            f"<portgroup name='pg-{group['id'].replace('-', '')[:12]}'/>",
            "--config",
            "--live",
        ]
    )
    answer = migrate(lab, vm["id"], host_id=lab.host_ids[target])
    assert answer.status_code == 409, answer.text
    assert answer.json()["error"]["code"] == "port_group_missing"


def test_cancel_and_the_concurrency_limit(lab: Lab, vms: list[str], iso: dict[str, Any]) -> None:
    slow = lab.make_vm(
        "slow", cdroms=[{"image_id": iso["id"]}], boot_order=["cdrom", "hd"], memory_mib=128
    )
    other = lab.make_vm("second", host_id=slow["host_id"])
    vms.extend([slow["id"], other["id"]])
    source = lab.host_index(slow["host_id"])
    answer = migrate(lab, slow["id"], **SLOW)
    assert answer.status_code == 202, answer.text
    task_id = answer.json()["task"]["id"]
    running_task(lab, task_id)
    # A second migration from the same host is over the limit (1 in this lab).
    refused = migrate(lab, other["id"])
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"]["code"] == "migration_limit_reached"
    cancelled = lab.admin.post(f"/tasks/{task_id}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    task = wait_task(lab.admin, task_id)
    assert task["state"] == "cancelled", task
    assert task["error_code"] == "migration_aborted"
    assert where(lab, slow["uuid"]) == {source: "running"}
    after = lab.admin.get(f"/vms/{slow['id']}").json()
    assert (after["host_id"], after["state"]) == (lab.host_ids[source], "running")


def test_a_job_aborted_on_the_node_leaves_the_vm_on_its_source(
    lab: Lab, vms: list[str], iso: dict[str, Any]
) -> None:
    vm = lab.make_vm(
        "aborted", cdroms=[{"image_id": iso["id"]}], boot_order=["cdrom", "hd"], memory_mib=128
    )
    vms.append(vm["id"])
    source = lab.host_index(vm["host_id"])
    answer = migrate(lab, vm["id"], **SLOW)
    task_id = answer.json()["task"]["id"]
    running_task(lab, task_id)
    lab.hosts[source].run(["virsh", "-c", "qemu:///system", "domjobabort", vm["uuid"]])
    task = wait_task(lab.admin, task_id)
    assert task["state"] == "failed", task
    assert where(lab, vm["uuid"]) == {source: "running"}
    after = lab.admin.get(f"/vms/{vm['id']}").json()
    assert (after["host_id"], after["state"]) == (lab.host_ids[source], "running")
    # It can migrate again afterwards.
    again = migrated(lab, vm["id"])
    assert again["state"] == "succeeded", again


def test_vrm_killed_mid_migration_finds_the_vm(
    lab: Lab, vms: list[str], iso: dict[str, Any]
) -> None:
    vm = lab.make_vm(
        "crash", cdroms=[{"image_id": iso["id"]}], boot_order=["cdrom", "hd"], memory_mib=128
    )
    vms.append(vm["id"])
    answer = migrate(lab, vm["id"], bandwidth_mib_s=4)
    task_id = answer.json()["task"]["id"]
    running_task(lab, task_id)
    lab.restart_vrm()
    task = wait_task(lab.admin, task_id)
    found = where(lab, vm["uuid"])
    assert list(found.values()) == ["running"], f"on exactly one host: {found}"
    [index] = found
    after = lab.admin.get(f"/vms/{vm['id']}").json()
    assert after["host_id"] == lab.host_ids[index]
    assert after["state"] == "running"
    assert task["state"] in ("succeeded", "failed"), task
