"""Heartbeats taken in memory: credentials cached, one write per batch, nothing lost."""

from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.helpers import error_of
from tests.vrm.agents.test_heartbeat import beat, enrolled
from tests.vrm.agents.wire import heartbeat
from vrm.agents.ingest import HeartbeatIngest
from vrm.models import Host, VrmProcess


def ingest_of(client: TestClient) -> HeartbeatIngest:
    ingest: HeartbeatIngest = client.app.state.heartbeats  # type: ignore[attr-defined]
    return ingest


def post(client: TestClient, host: dict[str, str], credential: str | None = None) -> int:
    response = client.post(
        f"/api/v1/agents/{host['host_id']}/heartbeat",
        json=heartbeat().model_dump(mode="json"),
        headers={"Authorization": f"Bearer {credential or host['host_credential']}"},
    )
    return response.status_code


def test_heartbeats_wait_in_memory_until_written(client: TestClient, session: Session) -> None:
    host = enrolled(client)
    ingest = ingest_of(client)
    assert post(client, host) == 200
    assert post(client, host) == 200
    assert ingest.pending == 1, "a newer report replaces the unwritten one"
    row = session.get(Host, uuid.UUID(host["host_id"]))
    assert row is not None
    assert row.last_heartbeat_at is None
    assert ingest.flush() == 1
    session.refresh(row)
    assert row.last_heartbeat_at is not None
    assert row.state == "normal"
    assert ingest.pending == 0
    process = session.get(VrmProcess, ingest.process)
    assert process is not None, "each write refreshes this process's row"
    assert process.flushed_at >= row.last_heartbeat_at


def test_a_known_host_is_checked_without_the_database(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    host = enrolled(client)
    beat(client, host)
    ingest = ingest_of(client)
    reads: list[uuid.UUID] = []
    original = ingest._read
    monkeypatch.setattr(ingest, "_read", lambda host_id: reads.append(host_id) or original(host_id))
    for _ in range(5):
        assert post(client, host) == 200
    assert reads == []
    assert post(client, host, credential="cnah_wrong") == 401
    assert post(client, host, credential="cnah_wrong") == 401
    assert len(reads) <= 1, "a wrong credential is looked up again only now and then"


def test_a_failed_write_keeps_the_heartbeats(
    client: TestClient, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    host = enrolled(client)
    ingest = ingest_of(client)
    assert post(client, host) == 200

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("database went away")

    monkeypatch.setattr("vrm.agents.ingest.record", broken)
    with pytest.raises(RuntimeError):
        ingest.flush()
    assert ingest.pending == 1
    monkeypatch.undo()
    assert ingest.flush() == 1
    row = session.get(Host, uuid.UUID(host["host_id"]))
    assert row is not None
    session.refresh(row)
    assert row.last_heartbeat_at is not None


def test_a_removed_host_is_refused_at_once(client: TestClient) -> None:
    host = enrolled(client)
    beat(client, host)
    assert client.delete(f"/api/v1/hosts/{host['host_id']}").status_code == 204
    response = client.post(
        f"/api/v1/agents/{host['host_id']}/heartbeat",
        json=heartbeat().model_dump(mode="json"),
        headers={"Authorization": f"Bearer {host['host_credential']}"},
    )
    assert error_of(response, 401)["code"] == "invalid_host_credential"


def test_a_host_gone_behind_this_process_is_forgotten_at_the_next_write(
    client: TestClient, session: Session
) -> None:
    host = enrolled(client)
    beat(client, host)
    ingest = ingest_of(client)
    assert post(client, host) == 200
    row = session.get(Host, uuid.UUID(host["host_id"]))
    session.delete(row)  # as another VRM process would
    session.commit()
    assert ingest.flush() == 0
    assert post(client, host) == 401
