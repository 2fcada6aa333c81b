"""Removing an enrolled host, on both backends."""

from __future__ import annotations

import uuid

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.conftest import MakeUser
from tests.factories import add_vm
from tests.helpers import error_of, login
from tests.vrm.agents.test_heartbeat import enrolled
from tests.vrm.agents.wire import heartbeat
from vrm.models import Datastore, EnrollmentToken, Host


def test_remove_host_with_its_local_datastore(client: TestClient, session: Session) -> None:
    host = enrolled(client)
    store_id = uuid.UUID(host["datastores"]["default"])  # type: ignore[index]
    assert client.delete(f"/api/v1/hosts/{host['host_id']}").status_code == 204
    assert client.get(f"/api/v1/hosts/{host['host_id']}").status_code == 404
    assert session.get(Datastore, store_id) is None
    token = session.query(EnrollmentToken).one()
    assert token.host_id is None, "the used token stays as history"
    beat = client.post(
        f"/api/v1/agents/{host['host_id']}/heartbeat",
        json=heartbeat().model_dump(mode="json"),
        headers={"Authorization": f"Bearer {host['host_credential']}"},
    )
    assert error_of(beat, 401)["code"] == "invalid_host_credential"
    events = client.get("/api/v1/events", params={"type": "host_removed"}).json()
    assert events["total"] == 1


def test_host_with_vms_cannot_be_removed(client: TestClient, session: Session) -> None:
    host = enrolled(client)
    row = session.get(Host, uuid.UUID(host["host_id"]))
    assert row is not None
    vm = add_vm(session, row.cluster_id)
    vm.host_id = row.id
    session.commit()
    response = client.delete(f"/api/v1/hosts/{host['host_id']}")
    assert error_of(response, 409)["code"] == "host_not_empty"
    assert client.get(f"/api/v1/hosts/{host['host_id']}").status_code == 200


def test_viewer_cannot_remove_hosts(
    client: TestClient, anon_client: TestClient, make_user: MakeUser
) -> None:
    host = enrolled(client)
    make_user("eyes", "viewer")
    response = anon_client.delete(
        f"/api/v1/hosts/{host['host_id']}", headers=login(anon_client, "eyes")
    )
    assert error_of(response, 403)["code"] == "forbidden"


def test_unknown_host_is_404(client: TestClient) -> None:
    assert error_of(client.delete(f"/api/v1/hosts/{uuid.uuid4()}"), 404)
