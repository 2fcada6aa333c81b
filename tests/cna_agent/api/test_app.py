"""The agent's HTTP API over libvirt's test driver: auth, commands, errors, operations."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from cna_agent.api.app import create_app
from cna_agent.config import Settings
from cna_agent.node import Node
from cna_agent.protocol import DomainSpec
from cna_agent.state import Identity, hash_credential
from tests.helpers import error_of

CREDENTIAL = "cnav_test-credential"


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    node = Node(Settings(libvirt_uri="test:///default", state_dir=tmp_path, domain_type="auto"))
    yield node
    node.close()


def identity() -> Identity:
    return Identity(
        vrm_url="http://127.0.0.1:1",
        host_id=uuid.uuid4(),
        cluster_id=uuid.uuid4(),
        host_credential="cnah_x",
        vrm_credential_sha256=hash_credential(CREDENTIAL),
    )


@pytest.fixture
def api(node: Node) -> Iterator[TestClient]:
    app = create_app(node, identity)
    with TestClient(app, raise_server_exceptions=False) as client:
        client.headers["Authorization"] = f"Bearer {CREDENTIAL}"
        yield client


def spec(**changes: object) -> dict[str, object]:
    base = DomainSpec(
        uuid=uuid.uuid4(),
        name=f"ovrmtest-{uuid.uuid4().hex[:6]}",
        vcpus=1,
        max_vcpus=2,
        memory_mib=128,
        max_memory_mib=256,
    )
    return {**base.model_dump(mode="json"), **changes}


def test_refuses_calls_without_vrms_credential(node: Node) -> None:
    with TestClient(create_app(node, identity), raise_server_exceptions=False) as client:
        assert error_of(client.get("/v1/vms"), 401)["code"] == "unauthenticated"
        wrong = client.get("/v1/vms", headers={"Authorization": "Bearer cnav_wrong"})
        assert error_of(wrong, 401)["code"] == "unauthenticated"
        assert client.get("/healthz").status_code == 200


def test_refuses_everything_before_enrollment(node: Node) -> None:
    with TestClient(create_app(node, lambda: None), raise_server_exceptions=False) as client:
        response = client.get("/v1/host/facts", headers={"Authorization": f"Bearer {CREDENTIAL}"})
        assert error_of(response, 401)["code"] == "not_enrolled"


def test_facts_report_the_test_driver(api: TestClient) -> None:
    facts = api.get("/v1/host/facts").json()
    assert facts["domain_type"] == "test"
    assert facts["cpus"] > 0
    assert facts["memory_mib"] > 0


def test_domain_life_cycle(api: TestClient) -> None:
    body = spec()
    vm = body["uuid"]
    defined = api.put(f"/v1/vms/{vm}", json=body)
    assert defined.status_code == 200, defined.text
    assert defined.json()["state"] == "shutoff"
    assert api.put(f"/v1/vms/{vm}", json=body).status_code == 200, "define is idempotent"
    for action, state in (
        ("start", "running"),
        ("start", "running"),
        ("pause", "paused"),
        ("resume", "running"),
    ):
        response = api.post(f"/v1/vms/{vm}/{action}")
        assert response.status_code == 200, response.text
        assert response.json()["state"] == state
    assert api.put(f"/v1/vms/{vm}/vcpus", json={"vcpus": 2}).json()["vcpus"] == 2
    assert api.put(f"/v1/vms/{vm}/memory", json={"memory_mib": 200}).json()["memory_mib"] == 200
    listed = {d["uuid"]: d["state"] for d in api.get("/v1/vms").json()}
    assert listed[vm] == "running"
    op = api.post(f"/v1/vms/{vm}/stop", json={"force": True, "timeout_s": 0.5})
    assert op.status_code == 202
    assert wait(api, op.json()["id"])["state"] == "succeeded"
    assert api.get(f"/v1/vms/{vm}").json()["state"] == "shutoff"
    assert api.delete(f"/v1/vms/{vm}").status_code == 204
    assert api.delete(f"/v1/vms/{vm}").status_code == 204, "undefine is idempotent"
    assert error_of(api.get(f"/v1/vms/{vm}"), 404)["code"] == "domain_not_found"


def wait(api: TestClient, op_id: str) -> dict[str, object]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        op: dict[str, object] = api.get(f"/v1/operations/{op_id}").json()
        if op["state"] != "running":
            return op
        time.sleep(0.05)
    raise AssertionError(f"operation {op_id} did not finish")


def test_bad_specs_are_422_with_the_error_shape(api: TestClient) -> None:
    vm = str(uuid.uuid4())
    cases = [
        spec(uuid=vm, vcpus=4, max_vcpus=2),
        spec(uuid=vm, memory_mib=512, max_memory_mib=256),
        spec(uuid=vm, name="bad name/with slash"),
        spec(uuid=vm, nics=[{"mac": "not-a-mac", "network": "n"}]),
        spec(uuid=vm, unknown=1),
        spec(),  # uuid differs from the URL's
    ]
    for body in cases:
        response = api.put(f"/v1/vms/{vm}", json=body)
        error = error_of(response, 422)
        assert error["details"]["retryable"] is False
    assert api.get(f"/v1/vms/{vm}").status_code == 404


def test_unknown_objects_are_404(api: TestClient) -> None:
    vm = uuid.uuid4()
    assert error_of(api.post(f"/v1/vms/{vm}/start"), 404)["code"] == "domain_not_found"
    assert error_of(api.get("/v1/pools/nope"), 404)["code"] == "pool_not_found"
    assert error_of(api.get(f"/v1/operations/{vm}"), 404)["code"] == "operation_not_found"
    assert api.post(f"/v1/vms/{vm}/fly").status_code == 422


def test_vcpus_above_maximum_is_422(api: TestClient) -> None:
    body = spec()
    api.put(f"/v1/vms/{body['uuid']}", json=body)
    response = api.put(f"/v1/vms/{body['uuid']}/vcpus", json={"vcpus": 8})
    assert error_of(response, 422)["code"] == "invalid_spec"


def test_snapshots(api: TestClient) -> None:
    body = spec()
    vm = body["uuid"]
    api.put(f"/v1/vms/{vm}", json=body)
    api.post(f"/v1/vms/{vm}/start")
    created = api.post(f"/v1/vms/{vm}/snapshots", json={"name": "s1"})
    assert created.status_code == 201, created.text
    assert [s["name"] for s in api.get(f"/v1/vms/{vm}/snapshots").json()] == ["s1"]
    assert api.post(f"/v1/vms/{vm}/snapshots/s1/revert").status_code == 200
    assert api.delete(f"/v1/vms/{vm}/snapshots/s1").status_code == 204
    assert api.get(f"/v1/vms/{vm}/snapshots").json() == []
