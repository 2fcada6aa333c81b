"""The datastores and volumes API, on both database backends."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.conftest import MakeUser
from tests.factories import add_datastore, add_host, add_volume, link_host_datastore
from tests.helpers import error_of, login
from vrm.models import AuditRecord, Datastore
from vrm.models.enums import ObjectState
from vrm.sites.repository import DEFAULT_SITE_ID

LOCAL = {"name": "local1", "type": "local_dir", "source": "/var/lib/vrm/local1"}


def _create(client: TestClient, **fields: Any) -> dict[str, Any]:
    response = client.post("/api/v1/datastores", json={**LOCAL, **fields})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def test_create_get_update_delete(client: TestClient, session: Session) -> None:
    body = _create(client, description="fast disks")
    assert body["site_id"] == str(DEFAULT_SITE_ID)
    assert (body["type"], body["source"], body["state"]) == (
        "local_dir",
        LOCAL["source"],
        "available",
    )
    assert (body["capacity_mib"], body["allocated_mib"], body["host_ids"]) == (0, 0, [])
    assert client.get(f"/api/v1/datastores/{body['id']}").json() == body

    patched = client.patch(f"/api/v1/datastores/{body['id']}", json={"name": "local-a"})
    assert patched.status_code == 200, patched.text
    assert (patched.json()["name"], patched.json()["description"]) == ("local-a", "fast disks")

    assert client.delete(f"/api/v1/datastores/{body['id']}").status_code == 204
    assert error_of(client.get(f"/api/v1/datastores/{body['id']}"), 404)["code"] == (
        "datastore_not_found"
    )
    actions = session.scalars(
        select(AuditRecord.action).where(AuditRecord.target_id == uuid.UUID(body["id"]))
    ).all()
    assert sorted(actions) == ["datastore.create", "datastore.delete", "datastore.update"]


@pytest.mark.parametrize(
    ("kind", "source"),
    [("shared_dir", "/mnt/shared/vrm"), ("nfs", "nas1.example.com:/exports/vrm")],
)
def test_create_shared_kinds(client: TestClient, kind: str, source: str) -> None:
    body = _create(client, type=kind, source=source)
    assert (body["type"], body["source"]) == (kind, source)


def test_host_ids_show_which_hosts_reach_it(client: TestClient, session: Session) -> None:
    cluster = client.post("/api/v1/clusters", json={"name": "c"}).json()
    h1, h2 = (add_host(session, uuid.UUID(cluster["id"])) for _ in range(2))
    shared = add_datastore(session, name="shared")
    lonely = add_datastore(session, name="lonely")
    link_host_datastore(session, h1.id, shared.id)
    link_host_datastore(session, h2.id, shared.id)

    got = client.get(f"/api/v1/datastores/{shared.id}").json()
    assert sorted(got["host_ids"]) == sorted([str(h1.id), str(h2.id)])
    page = client.get("/api/v1/datastores", params={"sort": "name"}).json()
    assert [(d["name"], len(d["host_ids"])) for d in page["items"]] == [
        ("lonely", 0),
        ("shared", 2),
    ]
    renamed = client.patch(f"/api/v1/datastores/{shared.id}", json={"description": "x"}).json()
    assert len(renamed["host_ids"]) == 2
    assert client.get(f"/api/v1/datastores/{lonely.id}").json()["host_ids"] == []


def test_duplicate_name_conflicts(client: TestClient) -> None:
    first = _create(client)
    assert error_of(client.post("/api/v1/datastores", json=LOCAL), 409)["code"] == "name_conflict"
    other = _create(client, name="other")
    response = client.patch(f"/api/v1/datastores/{other['id']}", json={"name": first["name"]})
    assert error_of(response, 409)["code"] == "name_conflict"
    assert client.get(f"/api/v1/datastores/{other['id']}").json()["name"] == "other"
    assert client.get("/api/v1/datastores").json()["total"] == 2


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"name": "x"},
        {"name": "x", "type": "local_dir"},
        {**LOCAL, "name": ""},
        {**LOCAL, "name": "x" * 65},
        {**LOCAL, "name": "a\x00b"},
        {**LOCAL, "description": "a\x00b"},
        {**LOCAL, "description": "x" * 256},
        {**LOCAL, "type": "iscsi"},
        {**LOCAL, "source": "relative/path"},
        {**LOCAL, "source": "/var/lib/../../etc"},
        {**LOCAL, "source": "/"},
        {**LOCAL, "source": "/a\x00b"},
        {**LOCAL, "source": "/" + "a" * 512},
        {**LOCAL, "source": "nas1:/exports"},
        {**LOCAL, "type": "shared_dir", "source": "nas1:/exports"},
        {**LOCAL, "type": "nfs", "source": "/exports/vrm"},
        {**LOCAL, "type": "nfs", "source": "nas1:exports"},
        {**LOCAL, "type": "nfs", "source": "bad_host:/exports"},
        {**LOCAL, "capacity_mib": 100},
        {**LOCAL, "allocated_mib": -1},
        {**LOCAL, "state": "error"},
        {**LOCAL, "source": 42},
    ],
)
def test_invalid_input_is_422(client: TestClient, payload: dict[str, object]) -> None:
    response = client.post("/api/v1/datastores", json=payload)
    assert error_of(response, 422)["code"] == "validation_error"
    assert client.get("/api/v1/datastores").json()["total"] == 0


def test_source_error_names_the_field(client: TestClient) -> None:
    response = client.post("/api/v1/datastores", json={**LOCAL, "type": "nfs"})
    assert error_of(response, 422)["message"].startswith("source:")


@pytest.mark.parametrize(
    "payload",
    [
        {"name": None},
        {"name": ""},
        {"type": "nfs"},
        {"source": "/other"},
        {"capacity_mib": 1},
        {"description": "a\x00"},
    ],
)
def test_invalid_update_is_422(client: TestClient, payload: dict[str, object]) -> None:
    body = _create(client)
    response = client.patch(f"/api/v1/datastores/{body['id']}", json=payload)
    assert error_of(response, 422)["code"] == "validation_error"
    assert client.get(f"/api/v1/datastores/{body['id']}").json() == body


def test_unknown_site_is_422(client: TestClient) -> None:
    response = client.post("/api/v1/datastores", json={**LOCAL, "site_id": str(uuid.uuid4())})
    assert error_of(response, 422)["code"] == "site_not_found"
    assert client.get("/api/v1/datastores").json()["total"] == 0


def test_delete_with_volumes_conflicts(client: TestClient, session: Session) -> None:
    body = _create(client)
    add_volume(session, uuid.UUID(body["id"]))
    error = error_of(client.delete(f"/api/v1/datastores/{body['id']}"), 409)
    assert error["code"] == "datastore_in_use"
    assert error["details"] == {"volumes": 1}
    assert session.get(Datastore, uuid.UUID(body["id"])) is not None


def test_delete_with_hosts_removes_the_links(client: TestClient, session: Session) -> None:
    cluster = client.post("/api/v1/clusters", json={"name": "c"}).json()
    host = add_host(session, uuid.UUID(cluster["id"]))
    datastore = add_datastore(session)
    link_host_datastore(session, host.id, datastore.id)
    assert client.delete(f"/api/v1/datastores/{datastore.id}").status_code == 204
    assert client.get(f"/api/v1/hosts/{host.id}").status_code == 200


def test_unknown_and_malformed_ids_are_404(client: TestClient) -> None:
    ident = uuid.uuid4()
    for response in (
        client.get(f"/api/v1/datastores/{ident}"),
        client.patch(f"/api/v1/datastores/{ident}", json={"name": "x"}),
        client.delete(f"/api/v1/datastores/{ident}"),
        client.get("/api/v1/datastores/local1"),
        client.get(f"/api/v1/volumes/{ident}"),
        client.get("/api/v1/volumes/vol1"),
    ):
        assert error_of(response, 404)["code"].endswith("not_found")


def test_datastore_list_paging_sorting_filtering(client: TestClient) -> None:
    for name in ("c", "a", "d", "b"):
        kind = "nfs" if name in "ab" else "local_dir"
        source = f"nas:/exports/{name}" if kind == "nfs" else f"/srv/{name}"
        _create(client, name=name, type=kind, source=source)
    page = client.get("/api/v1/datastores", params={"sort": "name", "limit": 2, "offset": 1})
    assert page.json()["total"] == 4
    assert [d["name"] for d in page.json()["items"]] == ["b", "c"]
    desc = client.get("/api/v1/datastores", params={"sort": "-name"}).json()
    assert [d["name"] for d in desc["items"]] == ["d", "c", "b", "a"]
    nfs = client.get("/api/v1/datastores", params={"type": "nfs", "sort": "name"}).json()
    assert ([d["name"] for d in nfs["items"]], nfs["total"]) == (["a", "b"], 2)
    assert client.get("/api/v1/datastores", params={"name": "d"}).json()["total"] == 1
    assert client.get("/api/v1/datastores", params={"state": "error"}).json()["total"] == 0
    site = client.get("/api/v1/datastores", params={"site_id": str(DEFAULT_SITE_ID)}).json()
    assert site["total"] == 4


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/api/v1/datastores", {"sort": "source"}),
        ("/api/v1/datastores", {"type": "iscsi"}),
        ("/api/v1/datastores", {"site_id": "default"}),
        ("/api/v1/datastores", {"name": "\x00"}),
        ("/api/v1/volumes", {"state": "gone"}),
        ("/api/v1/volumes", {"datastore_id": "x"}),
        ("/api/v1/volumes", {"sort": "backing_volume_id"}),
        ("/api/v1/volumes", {"limit": 0}),
    ],
)
def test_bad_list_params_are_422(client: TestClient, path: str, params: dict[str, object]) -> None:
    error_of(client.get(path, params=params), 422)


def test_volumes_list_filters_and_get(client: TestClient, session: Session) -> None:
    ds1, ds2 = add_datastore(session), add_datastore(session)
    add_volume(session, ds1.id, name="v1", capacity_mib=2048)
    add_volume(session, ds1.id, name="v2", state=ObjectState.ERROR)
    v3 = add_volume(session, ds2.id, name="v3")

    def names(**params: object) -> list[str]:
        page = client.get("/api/v1/volumes", params={"sort": "name", **params}).json()
        assert page["total"] == len(page["items"])
        return [v["name"] for v in page["items"]]

    assert names() == ["v1", "v2", "v3"]
    assert names(datastore_id=str(ds1.id)) == ["v1", "v2"]
    assert names(state="error") == ["v2"]
    assert names(name="v3") == ["v3"]
    assert names(sort="-capacity_mib,name")[0] == "v1"
    body = client.get(f"/api/v1/volumes/{v3.id}").json()
    assert body["datastore_id"] == str(ds2.id)
    assert (body["format"], body["capacity_mib"], body["backing_volume_id"]) == (
        "qcow2",
        1024,
        None,
    )


def test_volumes_cannot_be_created_yet(client: TestClient) -> None:
    assert error_of(client.post("/api/v1/volumes", json={"name": "v"}), 405)


def test_viewer_can_read_but_not_write(
    anon_client: TestClient, make_user: MakeUser, session: Session
) -> None:
    datastore = add_datastore(session)
    make_user("watcher", "viewer")
    headers = login(anon_client, "watcher")
    assert anon_client.get("/api/v1/datastores", headers=headers).json()["total"] == 1
    assert anon_client.get("/api/v1/volumes", headers=headers).status_code == 200
    for response in (
        anon_client.post("/api/v1/datastores", json=LOCAL, headers=headers),
        anon_client.patch(
            f"/api/v1/datastores/{datastore.id}", json={"name": "x"}, headers=headers
        ),
        anon_client.delete(f"/api/v1/datastores/{datastore.id}", headers=headers),
    ):
        assert error_of(response, 403)["code"] == "forbidden"
    make_user("oper", "operator")
    operator = login(anon_client, "oper")
    response = anon_client.post("/api/v1/datastores", json=LOCAL, headers=operator)
    assert response.status_code == 201
