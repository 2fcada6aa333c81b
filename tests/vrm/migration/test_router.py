"""The migration and maintenance API where no node needs asking: refusals, cancel of a
running migration, maintenance state changes (both backends). Real migrations between
real hosts are in tests/migration."""

from __future__ import annotations

import uuid

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.factories import add_datastore, add_host, add_task, add_vm, add_volume
from tests.helpers import error_of
from vrm.models import Host, HostDatastore, Vm, VmDisk, VmSnapshot, Volume
from vrm.models.enums import HostState, TaskState, VmState
from vrm.tasks.types import TaskType


def _cluster(client: TestClient, name: str) -> uuid.UUID:
    response = client.post("/api/v1/clusters", json={"name": name})
    assert response.status_code == 201, response.text
    return uuid.UUID(response.json()["id"])


def _placed(session: Session, cluster_id: uuid.UUID, host: Host, state: VmState) -> Vm:
    vm = add_vm(session, cluster_id)
    vm.host_id, vm.state = host.id, state
    session.commit()
    return vm


def test_refusals_that_need_no_node(client: TestClient, session: Session) -> None:
    cluster = _cluster(client, "c")
    source, target = add_host(session, cluster), add_host(session, cluster)
    stranger = add_host(session, _cluster(client, "other"))
    vm = _placed(session, cluster, source, VmState.RUNNING)

    def refused(body: dict[str, object], status: int = 409) -> str:
        response = client.post(f"/api/v1/vms/{vm.id}/actions/migrate", json=body)
        assert response.status_code == status, response.text
        return error_of(response)["code"]

    assert refused({"host_id": str(source.id)}) == "migration_target_is_source"
    assert refused({"host_id": str(stranger.id)}) == "host_other_cluster"
    assert refused({"host_id": str(uuid.uuid4())}, 404) == "host_not_found"
    assert refused({"host_id": str(target.id), "surprise": 1}, 422) == "validation_error"
    target.state = HostState.MAINTENANCE
    session.commit()
    assert refused({"host_id": str(target.id)}) == "host_not_normal"
    # Without a target, placement finds none: the other host is in maintenance.
    assert refused({}) == "no_valid_host"
    session.add(VmSnapshot(vm_id=vm.id, name="before"))
    session.commit()
    assert refused({"host_id": str(target.id)}) == "vm_has_snapshots"
    session.query(VmSnapshot).delete()
    vm.state = VmState.PAUSED
    session.commit()
    assert refused({"host_id": str(target.id)}) == "vm_state_conflict"
    session.refresh(vm)
    assert (vm.state, vm.task_state, vm.migration_target_host_id) == (VmState.PAUSED, None, None)


def test_storage_the_target_does_not_reach_is_refused(client: TestClient, session: Session) -> None:
    cluster = _cluster(client, "c")
    source, target = add_host(session, cluster), add_host(session, cluster)
    store = add_datastore(session)
    session.add(HostDatastore(host_id=source.id, datastore_id=store.id, pool_name="local"))
    vm = _placed(session, cluster, source, VmState.STOPPED)
    volume = add_volume(session, store.id)
    session.add(VmDisk(vm_id=vm.id, volume_id=volume.id, device="vda"))
    session.commit()
    response = client.post(f"/api/v1/vms/{vm.id}/actions/migrate", json={"host_id": str(target.id)})
    assert response.status_code == 409, response.text
    assert error_of(response)["code"] == "storage_not_shared"
    assert error_of(response)["details"]["datastores"] == [str(store.id)]


def test_a_running_migration_can_be_asked_to_stop(client: TestClient, session: Session) -> None:
    task = add_task(session, type=TaskType.VM_MIGRATE, state=TaskState.RUNNING)
    response = client.post(f"/api/v1/tasks/{task.id}/cancel")
    assert response.status_code == 200, response.text
    session.refresh(task)
    assert task.cancel_requested_at is not None
    assert task.state == TaskState.RUNNING, "the flow stops it; the request only asks"
    again = client.post(f"/api/v1/tasks/{task.id}/cancel")
    assert error_of(again)["code"] == "task_not_cancellable"
    other = add_task(session, type=TaskType.VM_START, state=TaskState.RUNNING)
    refused = client.post(f"/api/v1/tasks/{other.id}/cancel")
    assert refused.status_code == 409
    assert error_of(refused)["code"] == "task_not_cancellable"


def test_maintenance_state_changes(client: TestClient, session: Session) -> None:
    cluster = _cluster(client, "c")
    host = add_host(session, cluster)
    base = f"/api/v1/hosts/{host.id}/actions"
    plan = client.post(f"{base}/enter-maintenance", json={"dry_run": True})
    assert plan.status_code == 200, plan.text
    assert plan.json() == {"host_id": str(host.id), "movable": True, "vms": []}
    assert error_of(client.post(f"{base}/exit-maintenance"))["code"] == "host_state_conflict"

    entered = client.post(f"{base}/enter-maintenance", json={"timeout_s": 600})
    assert entered.status_code == 202, entered.text
    assert entered.json()["task"]["type"] == "host.enter-maintenance"
    session.refresh(host)
    assert host.state == HostState.MAINTAINING
    again = client.post(f"{base}/enter-maintenance", json={})
    assert error_of(again)["code"] == "host_state_conflict"
    assert client.post(f"{base}/enter-maintenance", json={"timeout_s": 1}).status_code == 422

    # Cancelled before a worker took it: the host is back in service.
    task_id = entered.json()["task"]["id"]
    assert client.post(f"/api/v1/tasks/{task_id}/cancel").status_code == 200
    session.refresh(host)
    assert host.state == HostState.NORMAL

    host.state = HostState.MAINTENANCE
    session.commit()
    back = client.post(f"{base}/exit-maintenance")
    assert back.status_code == 200, back.text
    assert back.json()["state"] == "normal"


def test_moving_the_disks_is_refused_before_anything_moves(
    client: TestClient, session: Session
) -> None:
    cluster = _cluster(client, "c")
    source, target = add_host(session, cluster), add_host(session, cluster)
    mine, theirs, far = add_datastore(session), add_datastore(session), add_datastore(session)
    mine.capacity_mib = theirs.capacity_mib = 100_000
    session.add_all(
        [
            HostDatastore(host_id=source.id, datastore_id=mine.id, pool_name="mine"),
            HostDatastore(host_id=target.id, datastore_id=theirs.id, pool_name="theirs"),
        ]
    )
    vm = _placed(session, cluster, source, VmState.STOPPED)
    volume = add_volume(session, mine.id)
    session.add(VmDisk(vm_id=vm.id, volume_id=volume.id, device="vda"))
    session.commit()

    def refused(body: dict[str, object], status: int = 409) -> str:
        response = client.post(f"/api/v1/vms/{vm.id}/actions/migrate", json=body)
        assert response.status_code == status, response.text
        return error_of(response)["code"]

    to_target = {"host_id": str(target.id)}
    assert refused({**to_target, "datastore_id": str(uuid.uuid4())}, 404) == "datastore_not_found"
    assert refused({**to_target, "datastore_id": str(mine.id)}) == "already_on_datastore"
    # The target does not reach that datastore.
    assert refused({**to_target, "datastore_id": str(far.id)}) == "datastore_unreachable"
    # Stopped: no host reaches both the disk's datastore and the target's.
    assert refused({**to_target, "datastore_id": str(theirs.id)}) == "storage_not_reachable"
    # The target has no room for the disk on its datastore.
    theirs.capacity_mib = 10
    session.add(HostDatastore(host_id=source.id, datastore_id=theirs.id, pool_name="theirs"))
    session.commit()
    assert refused({**to_target, "datastore_id": str(theirs.id)}) == "insufficient_space"
    # Without a host, the disks move and the VM stays: its own host must reach the
    # datastore, which must have room.
    assert refused({"datastore_id": str(far.id)}) == "datastore_unreachable"
    assert refused({"datastore_id": str(theirs.id)}) == "insufficient_space"
    theirs.capacity_mib = 100_000
    session.commit()
    # A disk that linked clones are made from stays where it is.
    add_volume(session, mine.id).backing_volume_id = volume.id
    session.commit()
    assert refused({**to_target, "datastore_id": str(theirs.id)}) == "volume_has_linked_clones"
    session.refresh(vm)
    assert (vm.state, vm.task_state, vm.migration_target_host_id) == (VmState.STOPPED, None, None)
    assert {v.datastore_id for v in session.query(Volume)} == {mine.id}, "no copy was made"
