"""The storage pages: datastores, volumes (paged, by datastore) and the image library."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy.orm import Session

from tests.factories import add_datastore, add_host, add_vm, add_volume, link_host_datastore
from tests.vrm.web.conftest import HTML, WebLogin
from vrm.models import Cluster, Image, VmDisk
from vrm.models.enums import ImageFormat, ImageSource, ImageState, ObjectState
from vrm.sites.repository import DEFAULT_SITE_ID

pytestmark = pytest.mark.db

SHA = "ab" * 32


def add_image(session: Session, datastore_id: uuid.UUID, name: str, **values: Any) -> Image:
    """An image row in ``datastore_id``."""
    image = Image(
        name=name,
        format=values.pop("format", ImageFormat.ISO),
        datastore_id=datastore_id,
        volume_name=f"img-{uuid.uuid4().hex[:12]}.iso",
        source=ImageSource.UPLOAD,
        **values,
    )
    session.add(image)
    session.commit()
    return image


@pytest.fixture
def storage(session: Session) -> dict[str, Any]:
    """Two datastores (one reached by a host, 25 % allocated), volumes and images."""
    cluster = Cluster(name="store-cluster", site_id=DEFAULT_SITE_ID)
    session.add(cluster)
    session.flush()
    host = add_host(session, cluster.id, name="node-a")
    big = add_datastore(session, name="big-store")
    big.capacity_mib, big.allocated_mib = 409600, 102400
    small = add_datastore(session, name="small-store")
    link_host_datastore(session, host.id, big.id)
    vm = add_vm(session, cluster.id, name="web-1")
    disk = add_volume(session, big.id, name="web-1-disk0", capacity_mib=20480)
    session.add(VmDisk(vm_id=vm.id, volume_id=disk.id, device="vda"))
    for index in range(60):
        add_volume(session, big.id, name=f"bulk-{index:02d}")
    add_volume(session, small.id, name="lonely", state=ObjectState.ERROR)
    ready = add_image(
        session,
        big.id,
        "debian-12",
        state=ImageState.READY,
        size_bytes=3 * 1024 * 1024,
        sha256=SHA,
        os_hint="debian12",
        progress=100,
    )
    failed = add_image(
        session,
        small.id,
        "broken",
        format=ImageFormat.QCOW2,
        state=ImageState.FAILED,
        error_code="image_backing_file",
        error_message="the qcow2 names a backing file",
    )
    return {"big": big, "small": small, "host": host, "vm": vm, "ready": ready, "failed": failed}


def test_datastores_show_type_capacity_allocation_state_and_hosts(
    storage: dict[str, Any], web_login: WebLogin
) -> None:
    html = web_login("ops", "operator").get("/storage", headers=HTML).text
    row = html.split(f'data-datastore-id="{storage["big"].id}"', 1)[1].split("</tr>", 1)[0]
    assert "400.0 GiB" in row
    assert "100.0 GiB" in row
    assert "(25 %)" in row
    assert "node-a" in row
    assert "available" in row
    assert "local_dir" in row
    # 61 volumes, linked to the volume table filtered by this datastore.
    assert f'/storage/volumes?datastore_id={storage["big"].id}">61<' in row
    assert 'data-api-form="POST /datastores"' in html
    assert f'data-action="DELETE /datastores/{storage["small"].id}"' in html


def test_volumes_page_on_the_server_and_filter_by_datastore(
    storage: dict[str, Any], web_login: WebLogin
) -> None:
    client = web_login("ops", "operator")
    first = client.get("/storage/volumes", headers=HTML).text
    assert first.count("data-volume-id=") == 50
    assert "62 in all" in first
    assert "Page 1 of 2" in first
    second = client.get("/storage/volumes?page=2", headers=HTML).text
    assert second.count("data-volume-id=") == 12
    assert "web-1-disk0" in second
    # The disk of a VM links to its VM.
    row = second.split("web-1-disk0", 1)[1].split("</tr>", 1)[0]
    assert f"/vms/{storage['vm'].id}" in row
    assert "vda" in row
    small = client.get(f"/storage/volumes?datastore_id={storage['small'].id}", headers=HTML).text
    assert small.count("data-volume-id=") == 1
    assert "lonely" in small
    errors = client.get("/storage/volumes?state=error", headers=HTML).text
    assert errors.count("data-volume-id=") == 1
    found = client.get("/storage/volumes?q=bulk-0", headers=HTML).text
    assert found.count("data-volume-id=") == 10


def test_images_show_format_hint_size_checksum_and_state(
    storage: dict[str, Any], web_login: WebLogin
) -> None:
    html = web_login("ops", "operator").get("/storage/images", headers=HTML).text
    ready = html.split(f'data-image-id="{storage["ready"].id}"', 1)[1].split("</tr>", 1)[0]
    assert "debian12" in ready
    assert "3.0 MiB" in ready
    assert SHA in ready
    assert "state-ready" in ready
    assert "big-store" in ready
    failed = html.split(f'data-image-id="{storage["failed"].id}"', 1)[1].split("</tr>", 1)[0]
    assert "state-failed" in failed
    assert "image_backing_file: the qcow2 names a backing file" in failed
    assert "data-upload-form" in html
    assert 'data-api-form="POST /images"' in html
    assert "data-image-delete" in html
    only_iso = web_login("ops2", "viewer").get("/storage/images?format=qcow2", headers=HTML).text
    assert "broken" in only_iso
    assert "debian-12" not in only_iso


def test_a_viewer_sees_storage_without_forms_or_buttons(
    storage: dict[str, Any], web_login: WebLogin
) -> None:
    viewer = web_login("watcher", "viewer")
    for path in ("/storage", "/storage/volumes", "/storage/images"):
        html = viewer.get(path, headers=HTML).text
        assert "big-store" in html, path
        for marker in ("data-api-form", "data-upload-form", "data-action", "data-image-delete"):
            assert marker not in html, (path, marker)


def test_nonsense_in_the_query_is_ignored(storage: dict[str, Any], web_login: WebLogin) -> None:
    client = web_login("ops", "operator")
    for query in (
        "datastore_id=not-a-uuid&state=sleeping&sort=evil&page=0&per_page=3",
        f"datastore_id={uuid.uuid4()}&q=%00%7f&page=99999999999999",
        "format=exe&sort=-size_bytes&q=" + "%" * 300,
    ):
        for path in ("/storage/volumes", "/storage/images"):
            answer = client.get(f"{path}?{query}", headers=HTML)
            assert answer.status_code == 200, (path, query, answer.text[:200])
    assert client.get("/storage?sort=x", headers=HTML).status_code == 200
    assert client.get("/storage/nothing-here", headers=HTML).status_code == 404


def test_empty_storage_pages(web_login: WebLogin) -> None:
    client = web_login("first", "admin")
    assert "No datastores yet." in client.get("/storage", headers=HTML).text
    assert "No volumes match." in client.get("/storage/volumes", headers=HTML).text
    assert "No images match." in client.get("/storage/images", headers=HTML).text
