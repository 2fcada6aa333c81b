"""Disks moving to another datastore with their VM, between the two lab hosts.

Each host has a local datastore (its own folder) and both share one. A marker written
into a disk before the move is read back from the copy, so the data did move.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import libvirt

from tests.e2e.processes import wait_until
from tests.e2e.vmlab import wait_task
from tests.migration.lab import Lab
from tests.migration.test_live import migrate, migrated, where

MARKER = "write -P 0x5a 0 1M"
CHECK = "read -P 0x5a 0 1M"
# Enough data that a copy at 1 MiB/s lasts half a minute: time to cancel it.
BULK = "write -P 0x5a 0 32M"


def local_datastore(lab: Lab, index: int) -> str:
    """The id of host ``index``'s own datastore."""
    stores = lab.admin.get("/datastores").json()["items"]
    host_id = lab.host_ids[index]
    return str(next(s["id"] for s in stores if s["host_ids"] == [host_id]))


def disk_path(lab: Lab, index: int, vm_uuid: str) -> str:
    """The file of the domain's first disk on host ``index``."""
    conn = lab.conn(index)
    try:
        root = ET.fromstring(conn.lookupByUUIDString(vm_uuid).XMLDesc())
    finally:
        conn.close()
    source = root.find("devices/disk[@device='disk']/source")
    assert source is not None
    return str(source.get("file"))


def qemu_io(lab: Lab, index: int, path: str, command: str) -> str:
    """Run one qemu-io command on a disk file of host ``index`` (a read shares the lock:
    the file may belong to a running domain)."""
    shared = ["-r", "-U"] if command.startswith("read") else []
    args = ["qemu-io", *shared, "-f", "qcow2", "-c", command, path]
    done = lab.hosts[index].run(args, check=False)
    assert done.returncode == 0, done
    assert "Pattern verification failed" not in done.stdout, done.stdout
    return done.stdout


def exists(lab: Lab, index: int, path: str) -> bool:
    return lab.hosts[index].run(["test", "-e", path], check=False).returncode == 0


def volume_of(lab: Lab, vm_id: str) -> dict[str, Any]:
    vm = lab.admin.get(f"/vms/{vm_id}").json()
    volume: dict[str, Any] = lab.admin.get(f"/volumes/{vm['disks'][0]['volume_id']}").json()
    return volume


def marked_vm(
    lab: Lab, vms: list[str], name: str, *, size_mib: int = 16, written: str = MARKER
) -> dict[str, Any]:
    """A stopped VM of the first host, its disk on that host's own datastore with
    ``written`` (a qemu-io write) in it; removed after the test."""
    disks = [{"size_mib": size_mib, "datastore_id": local_datastore(lab, 0)}]
    vm = lab.make_vm(name, disks=disks, power_on=False)
    vms.append(vm["id"])
    assert lab.host_index(vm["host_id"]) == 0, "only the first host reaches its datastore"
    qemu_io(lab, 0, disk_path(lab, 0, vm["uuid"]), written)
    return vm


def start(lab: Lab, vm: dict[str, Any]) -> None:
    started = lab.admin.post(f"/vms/{vm['id']}/actions/start")
    assert wait_task(lab.admin, started.json()["task"]["id"])["state"] == "succeeded"


def test_a_running_vm_moves_to_another_hosts_local_datastore(lab: Lab, vms: list[str]) -> None:
    vm = marked_vm(lab, vms, "disks-live")
    old_volume, old_path = volume_of(lab, vm["id"]), disk_path(lab, 0, vm["uuid"])
    start(lab, vm)
    assert where(lab, vm["uuid"]) == {0: "running"}

    second_local = local_datastore(lab, 1)
    task = migrated(lab, vm["id"], host_id=lab.host_ids[1], datastore_id=second_local)
    assert task["state"] == "succeeded", (task["error_code"], task["error_message"])
    assert where(lab, vm["uuid"]) == {1: "running"}
    after = lab.admin.get(f"/vms/{vm['id']}").json()
    assert (after["host_id"], after["state"]) == (lab.host_ids[1], "running")
    # The disk is a new volume on the second host's datastore, holding the data.
    volume = volume_of(lab, vm["id"])
    assert volume["datastore_id"] == second_local
    assert volume["state"] == "in_use"
    new_path = disk_path(lab, 1, vm["uuid"])
    assert new_path != old_path
    qemu_io(lab, 1, new_path, CHECK)
    # The old volume is gone, from the node and from VRM.
    assert not exists(lab, 0, old_path)
    assert lab.admin.get(f"/volumes/{old_volume['id']}").status_code == 404


def test_a_stopped_vm_moves_with_its_disks_through_a_datastore_both_hosts_reach(
    lab: Lab, vms: list[str]
) -> None:
    first_local, second_local = local_datastore(lab, 0), local_datastore(lab, 1)
    vm = marked_vm(lab, vms, "disks-cold")
    old_path = disk_path(lab, 0, vm["uuid"])

    # Stopped, its disks cannot go straight from one host's folder to the other's.
    refused = migrate(lab, vm["id"], host_id=lab.host_ids[1], datastore_id=second_local)
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"]["code"] == "storage_not_reachable"
    assert lab.admin.get(f"/vms/{vm['id']}").json()["state"] == "stopped"

    # To the shared datastore (the first host copies), on the second host.
    task = migrated(lab, vm["id"], host_id=lab.host_ids[1], datastore_id=lab.shared)
    assert task["state"] == "succeeded", (task["error_code"], task["error_message"])
    assert where(lab, vm["uuid"]) == {1: "shut off"}
    assert volume_of(lab, vm["id"])["datastore_id"] == lab.shared
    shared_path = disk_path(lab, 1, vm["uuid"])
    qemu_io(lab, 1, shared_path, CHECK)
    assert not exists(lab, 0, old_path)

    # Then back to the first host, onto its own datastore (the first host copies again).
    task = migrated(lab, vm["id"], host_id=lab.host_ids[0], datastore_id=first_local)
    assert task["state"] == "succeeded", (task["error_code"], task["error_message"])
    assert where(lab, vm["uuid"]) == {0: "shut off"}
    assert volume_of(lab, vm["id"])["datastore_id"] == first_local
    qemu_io(lab, 0, disk_path(lab, 0, vm["uuid"]), CHECK)
    assert not exists(lab, 1, shared_path)
    start(lab, vm)
    assert where(lab, vm["uuid"]) == {0: "running"}


def test_a_cancelled_disk_move_leaves_the_vm_and_its_disk_where_they_were(
    lab: Lab, vms: list[str]
) -> None:
    second_local = local_datastore(lab, 1)
    vm = marked_vm(lab, vms, "disks-cancel", size_mib=64, written=BULK)
    old_volume = volume_of(lab, vm["id"])
    start(lab, vm)

    # At 1 MiB/s the 32 MiB written take half a minute to copy.
    answer = migrate(
        lab, vm["id"], host_id=lab.host_ids[1], datastore_id=second_local, bandwidth_mib_s=1
    )
    assert answer.status_code == 202, answer.text
    task_id = answer.json()["task"]["id"]
    wait_until(lambda: in_step(lab, task_id, "move"), timeout_s=60, what="the copy to run")
    assert lab.admin.post(f"/tasks/{task_id}/cancel").status_code == 200
    task = wait_task(lab.admin, task_id)
    assert task["state"] == "cancelled", task

    assert where(lab, vm["uuid"]) == {0: "running"}
    assert volume_of(lab, vm["id"]) == old_volume
    # The copy is gone from the second host and from VRM.
    left = lab.hosts[1].run(["ls", str(pool_dir(lab, 1, second_local))]).stdout
    assert f"vm-{vm['uuid'].replace('-', '')[:12]}" not in left
    copies = lab.admin.get("/volumes", params={"datastore_id": second_local}).json()["items"]
    assert not [v for v in copies if v["name"].startswith(old_volume["name"])]


def in_step(lab: Lab, task_id: str, step: str) -> bool:
    """The task runs ``step`` (the node is copying)."""
    task = lab.admin.get(f"/tasks/{task_id}").json()
    assert task["state"] in ("queued", "running"), task
    return bool(task["step"] == step)


def pool_dir(lab: Lab, index: int, datastore_id: str) -> str:
    """The folder of a datastore on host ``index``."""
    store = lab.admin.get(f"/datastores/{datastore_id}").json()
    return str(store["source"])


def test_the_disks_of_a_vm_move_to_another_datastore_of_its_host(lab: Lab, vms: list[str]) -> None:
    first_local = local_datastore(lab, 0)
    vm = marked_vm(lab, vms, "disks-here")
    old_path = disk_path(lab, 0, vm["uuid"])
    start(lab, vm)

    # Running: a block copy on the host, the guest switched onto the copy.
    task = migrated(lab, vm["id"], datastore_id=lab.shared)
    assert task["type"] == "vm.move-storage"
    assert task["state"] == "succeeded", (task["error_code"], task["error_message"])
    assert where(lab, vm["uuid"]) == {0: "running"}
    assert volume_of(lab, vm["id"])["datastore_id"] == lab.shared
    shared_path = disk_path(lab, 0, vm["uuid"])
    assert shared_path.startswith(str(lab.hosts[0].shared_dir))
    assert defined_path(lab, 0, vm["uuid"]) == shared_path, "the definition follows"
    qemu_io(lab, 0, shared_path, CHECK)
    assert not exists(lab, 0, old_path)

    # Stopped: the host copies the volume and the domain is defined on the copy.
    stop = lab.admin.post(f"/vms/{vm['id']}/actions/stop", json={"mode": "poweroff"})
    assert wait_task(lab.admin, stop.json()["task"]["id"])["state"] == "succeeded"
    task = migrated(lab, vm["id"], datastore_id=first_local)
    assert task["state"] == "succeeded", (task["error_code"], task["error_message"])
    assert where(lab, vm["uuid"]) == {0: "shut off"}
    assert volume_of(lab, vm["id"])["datastore_id"] == first_local
    back = defined_path(lab, 0, vm["uuid"])
    assert back != old_path, "a fresh volume name"
    qemu_io(lab, 0, back, CHECK)
    assert not exists(lab, 0, shared_path)


def defined_path(lab: Lab, index: int, vm_uuid: str) -> str:
    """The file of the first disk in the domain's persistent definition."""
    conn = lab.conn(index)
    try:
        xml = conn.lookupByUUIDString(vm_uuid).XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
    finally:
        conn.close()
    source = ET.fromstring(xml).find("devices/disk[@device='disk']/source")
    assert source is not None
    return str(source.get("file"))


def test_a_cancelled_move_on_one_host_leaves_the_disk_where_it_was(
    lab: Lab, vms: list[str]
) -> None:
    vm = marked_vm(lab, vms, "disks-here-cancel", size_mib=64, written=BULK)
    old_volume, old_path = volume_of(lab, vm["id"]), disk_path(lab, 0, vm["uuid"])
    start(lab, vm)

    answer = migrate(lab, vm["id"], datastore_id=lab.shared, bandwidth_mib_s=1)
    assert answer.status_code == 202, answer.text
    task_id = answer.json()["task"]["id"]
    wait_until(lambda: in_step(lab, task_id, "copy"), timeout_s=60, what="the copy to run")
    assert lab.admin.post(f"/tasks/{task_id}/cancel").status_code == 200
    task = wait_task(lab.admin, task_id)
    assert task["state"] == "cancelled", task

    assert where(lab, vm["uuid"]) == {0: "running"}
    assert disk_path(lab, 0, vm["uuid"]) == old_path, "the guest stays on its disk"
    assert volume_of(lab, vm["id"]) == old_volume
    assert lab.admin.get(f"/vms/{vm['id']}").json()["state"] == "running"
    copies = lab.admin.get("/volumes", params={"datastore_id": lab.shared}).json()["items"]
    assert not [v for v in copies if v["name"].startswith(old_volume["name"])]
