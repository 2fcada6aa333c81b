"""Creating VMs through the API in tests of the VM API (no task worker runs)."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from vrm.models import Vm
from vrm.models.enums import VmState


def vm_body(place: dict[str, Any], **changes: Any) -> dict[str, Any]:
    body = {
        "name": "web-1",
        "cluster_id": place["cluster"],
        "vcpus": 1,
        "max_vcpus": 2,
        "memory_mib": 512,
        "max_memory_mib": 1024,
        "disks": [{"size_mib": 1024}],
        "nics": [{"port_group_id": place["group"]}],
    }
    return {**body, **changes}


def create(client: TestClient, place: dict[str, Any], **changes: Any) -> dict[str, Any]:
    response = client.post("/api/v1/vms", json=vm_body(place, **changes))
    assert response.status_code == 202, response.text
    body: dict[str, Any] = response.json()
    return body


def settle(session: Session, vm_id: str, state: VmState) -> None:
    """Pretend the VM's task ended with the VM in ``state``."""
    vm = session.get(Vm, uuid.UUID(vm_id))
    assert vm is not None
    vm.state, vm.task_state = state, None
    session.commit()
