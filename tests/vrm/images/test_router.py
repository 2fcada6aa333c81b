"""The image API on both backends: records, rules and refusals (no node takes data in
here; uploads and imports through real agents are tested in tests/e2e/test_images.py)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.factories import add_datastore, add_host, link_host_datastore
from tests.helpers import error_of
from tests.vrm.vms.helpers import settle
from vrm.models import Image, Task, Vm
from vrm.models.enums import ImageState, VmState

MIB = 1024 * 1024


@pytest.fixture
def store(client: TestClient, session: Session) -> dict[str, Any]:
    """A normal host reaching a 10 GiB datastore with 1 GiB free."""
    cluster = client.post("/api/v1/clusters", json={"name": "c1"}).json()
    host = add_host(session, uuid.UUID(cluster["id"]), name="node-a")
    datastore = add_datastore(session, name="local-a")
    datastore.capacity_mib, datastore.allocated_mib = 10 * 1024, 9 * 1024
    link_host_datastore(session, host.id, datastore.id)
    session.commit()
    return {"cluster": cluster["id"], "host": host, "datastore": datastore}


def _create(client: TestClient, **fields: Any) -> dict[str, Any]:
    body = {"name": "debian", "format": "iso", **fields}
    response = client.post("/api/v1/images", json=body)
    assert response.status_code in (201, 202), response.text
    return dict(response.json())


def _ready(session: Session, image_id: str, **fields: Any) -> Image:
    image = session.get(Image, uuid.UUID(image_id))
    assert image is not None
    image.state, image.sha256 = ImageState.READY, "a" * 64
    for name, value in fields.items():
        setattr(image, name, value)
    session.commit()
    return image


def test_an_image_waits_for_its_upload_on_the_default_datastore(
    client: TestClient, store: dict[str, Any]
) -> None:
    answer = _create(client, os_hint="debian12", description="installer")
    image = answer["image"]
    assert answer["task"] is None
    assert (image["state"], image["source"], image["progress"]) == ("uploading", "upload", 0)
    assert image["datastore_id"] == str(store["datastore"].id)
    assert client.get(f"/api/v1/images/{image['id']}").json() == image
    listed = client.get("/api/v1/images", params={"format": "iso", "os_hint": "debian12"}).json()
    assert [i["id"] for i in listed["items"]] == [image["id"]]
    assert client.get("/api/v1/images", params={"format": "qcow2"}).json()["total"] == 0
    renamed = client.patch(f"/api/v1/images/{image['id']}", json={"name": "debian-12"})
    assert renamed.status_code == 200
    assert renamed.json()["name"] == "debian-12"


def test_an_import_queues_the_nodes_task(
    client: TestClient, session: Session, store: dict[str, Any]
) -> None:
    answer = client.post(
        "/api/v1/images",
        json={"name": "cloud", "format": "qcow2", "url": "http://127.0.0.1:1/cloud.qcow2"},
    )
    assert answer.status_code == 202, answer.text
    task = answer.json()["task"]
    assert (task["type"], task["state"]) == ("image.import", "queued")
    assert task["params"]["host_id"] == str(store["host"].id)
    assert answer.json()["image"]["task_id"] == task["id"]
    not_uploadable = client.put(f"/api/v1/images/{answer.json()['image']['id']}/data", content=b"x")
    assert error_of(not_uploadable, 409)["code"] == "image_not_uploadable"


@pytest.mark.parametrize(
    "body",
    [
        {"name": "x", "format": "vmdk"},
        {"name": "", "format": "iso"},
        {"name": "x", "format": "iso", "url": "ftp://example.com/x.iso"},
        {"name": "x", "format": "iso", "path": "relative/x.iso"},
        {"name": "x", "format": "iso", "url": "http://h/x", "path": "/x"},
        {"name": "x", "format": "iso", "sha256": "abc"},
        {"name": "x", "format": "iso", "datastore_id": str(uuid.uuid4())},
    ],
)
def test_invalid_images_are_422(
    client: TestClient, session: Session, store: dict[str, Any], body: dict[str, Any]
) -> None:
    error_of(client.post("/api/v1/images", json=body), 422)
    assert session.query(Image).count() == 0


def test_names_are_unique_per_datastore_and_a_host_is_needed(
    client: TestClient, session: Session
) -> None:
    assert (
        error_of(client.post("/api/v1/images", json={"name": "a", "format": "iso"}), 409)["code"]
        == "datastore_unreachable"
    )
    cluster = client.post("/api/v1/clusters", json={"name": "c1"}).json()
    host = add_host(session, uuid.UUID(cluster["id"]))
    link_host_datastore(session, host.id, add_datastore(session).id)
    _create(client, name="a")
    again = client.post("/api/v1/images", json={"name": "a", "format": "iso"})
    assert error_of(again, 409)["code"] == "name_conflict"


def test_uploads_too_large_or_without_room_are_refused_before_any_byte(
    client: TestClient, session: Session, store: dict[str, Any]
) -> None:
    image = _create(client)["image"]
    url = f"/api/v1/images/{image['id']}/data"
    huge = client.put(url, content=b"x", headers={"Content-Length": str(65 * 1024 * MIB)})
    assert error_of(huge, 422)["code"] == "image_too_large"
    roomless = client.put(url, content=b"x", headers={"Content-Length": str(2 * 1024 * MIB)})
    error = error_of(roomless, 409)
    assert error["code"] == "insufficient_space"
    assert error["details"]["free_bytes"] == 1024 * MIB
    assert session.query(Task).filter(Task.type == "image.upload").count() == 0
    assert client.get(f"/api/v1/images/{image['id']}").json()["state"] == "uploading"


def test_uploads_need_a_writer(
    client: TestClient, anon_client: TestClient, store: dict[str, Any]
) -> None:
    image = _create(client)["image"]
    refused = anon_client.put(f"/api/v1/images/{image['id']}/data", content=b"x")
    assert error_of(refused, 401)["code"] == "not_authenticated"


def test_vms_use_only_ready_images_of_the_right_kind(
    client: TestClient, session: Session, store: dict[str, Any]
) -> None:
    iso = _create(client, name="iso")["image"]
    disk = _create(client, name="disk", format="qcow2")["image"]
    vm = {"name": "v", "cluster_id": store["cluster"], "vcpus": 1, "memory_mib": 256}
    pending = client.post("/api/v1/vms", json={**vm, "cdroms": [{"image_id": iso["id"]}]})
    assert error_of(pending, 409)["code"] == "image_not_ready"
    _ready(session, iso["id"], virtual_size_bytes=10 * MIB)
    _ready(session, disk["id"], virtual_size_bytes=100 * MIB)
    iso_disk = client.post("/api/v1/vms", json={**vm, "disks": [{"image_id": iso["id"]}]})
    assert error_of(iso_disk, 422)["code"] == "image_format_unsuitable"
    qcow_cdrom = client.post("/api/v1/vms", json={**vm, "cdroms": [{"image_id": disk["id"]}]})
    assert error_of(qcow_cdrom, 422)["code"] == "image_format_unsuitable"
    elsewhere = {"image_id": disk["id"], "clone": "linked", "datastore_id": str(uuid.uuid4())}
    linked = client.post("/api/v1/vms", json={**vm, "disks": [elsewhere]})
    assert error_of(linked, 422)["code"] == "image_datastore_mismatch"

    made = client.post(
        "/api/v1/vms",
        json={
            **vm,
            "disks": [
                {"image_id": disk["id"], "size_mib": 50},
                {"image_id": disk["id"], "clone": "linked"},
            ],
            "cdroms": [{"image_id": iso["id"]}, {}],
            "boot_order": ["cdrom", "hd"],
            "console_exclusive": True,
        },
    )
    assert made.status_code == 202, made.text
    created = made.json()["vm"]
    assert [(c["device"], c["image_id"]) for c in created["cdroms"]] == [
        ("hda", iso["id"]),
        ("hdb", None),
    ]
    assert created["console_exclusive"] is True
    sizes = [
        client.get(f"/api/v1/volumes/{d['volume_id']}").json()["capacity_mib"]
        for d in created["disks"]
    ]
    assert sizes == [100, 100]  # never smaller than the image
    params = made.json()["task"]["params"]["from_images"]
    assert sorted(v["linked"] for v in params.values()) == [False, True]
    in_use = client.delete(f"/api/v1/images/{iso['id']}")
    assert error_of(in_use, 409)["code"] == "image_in_use"
    assert error_of(client.delete(f"/api/v1/images/{disk['id']}"), 409)["code"] == "image_in_use"


def test_deleting_an_unused_image_queues_its_removal(
    client: TestClient, session: Session, store: dict[str, Any]
) -> None:
    image = _create(client)["image"]
    _ready(session, image["id"])
    answer = client.delete(f"/api/v1/images/{image['id']}")
    assert answer.status_code == 202, answer.text
    assert answer.json()["image"]["state"] == "deleting"
    assert answer.json()["task"]["type"] == "image.delete"
    again = client.delete(f"/api/v1/images/{image['id']}")
    assert error_of(again, 409)["code"] == "image_busy"


def test_media_changes_need_a_drive_and_an_iso(
    client: TestClient, session: Session, store: dict[str, Any]
) -> None:
    iso = _create(client, name="iso")["image"]
    _ready(session, iso["id"])
    vm = {"name": "v", "cluster_id": store["cluster"], "vcpus": 1, "memory_mib": 256}
    bare = client.post("/api/v1/vms", json=vm).json()["vm"]
    settle(session, bare["id"], VmState.STOPPED)
    no_drive = client.post(
        f"/api/v1/vms/{bare['id']}/actions/insert-media", json={"image_id": iso["id"]}
    )
    assert error_of(no_drive, 409)["code"] == "no_cdrom"
    drive = client.post("/api/v1/vms", json={**vm, "name": "w", "cdroms": [{}]}).json()["vm"]
    settle(session, drive["id"], VmState.STOPPED)
    wrong = client.post(f"/api/v1/vms/{drive['id']}/actions/eject-media", json={"device": "hdc"})
    assert error_of(wrong, 404)["code"] == "cdrom_not_found"
    inserted = client.post(
        f"/api/v1/vms/{drive['id']}/actions/insert-media", json={"image_id": iso["id"]}
    )
    assert inserted.status_code == 202, inserted.text
    assert inserted.json()["vm"]["cdroms"][0]["image_id"] == iso["id"]
    assert inserted.json()["task"]["type"] == "vm.change-media"
    busy = client.post(f"/api/v1/vms/{drive['id']}/actions/eject-media")
    assert error_of(busy, 409)["code"] == "vm_busy"


def test_an_export_holds_its_template_until_the_copy_ends(
    client: TestClient, session: Session, store: dict[str, Any]
) -> None:
    body = {"name": "t", "cluster_id": store["cluster"], "vcpus": 1, "memory_mib": 256}
    vm = client.post("/api/v1/vms", json={**body, "disks": [{"size_mib": 64}]}).json()["vm"]
    settle(session, vm["id"], VmState.STOPPED)
    not_template = client.post(f"/api/v1/vms/{vm['id']}/actions/export-image", json={"name": "g"})
    assert error_of(not_template, 409)["code"] == "vm_not_template"
    template = session.get(Vm, uuid.UUID(vm["id"]))
    assert template is not None
    template.is_template = True
    session.commit()
    exported = client.post(f"/api/v1/vms/{vm['id']}/actions/export-image", json={"name": "g"})
    assert exported.status_code == 202, exported.text
    image, task = exported.json()["image"], exported.json()["task"]
    assert (image["format"], image["source"], image["source_ref"]) == (
        "qcow2",
        "template",
        vm["id"],
    )
    assert task["params"]["vm_id"] == vm["id"]
    assert client.get(f"/api/v1/vms/{vm['id']}").json()["task_state"] == "export-image"
    # The disk being copied cannot go meanwhile, nor be exported twice at once.
    assert error_of(client.delete(f"/api/v1/vms/{vm['id']}"), 409)["code"] == "vm_busy"
    again = client.post(f"/api/v1/vms/{vm['id']}/actions/export-image", json={"name": "h"})
    assert error_of(again, 409)["code"] == "vm_busy"
