"""Every network write leaves an audit record with the caller's name."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.vrm.network.api import make_dvs, make_pool, make_port_group
from vrm.models import AuditRecord


def test_writes_are_audited(client: TestClient, session: Session) -> None:
    dvs = make_dvs(client, "d")
    pg = make_port_group(client, dvs["id"], "p")
    pool = make_pool(client, pg["id"], "ip")
    client.patch(f"/api/v1/ip-pools/{pool['id']}", json={"description": "x"})
    client.patch(f"/api/v1/port-groups/{pg['id']}", json={"vlan_id": 9})
    client.patch(f"/api/v1/dvs/{dvs['id']}", json={"mtu": 9000})
    for path in (f"ip-pools/{pool['id']}", f"port-groups/{pg['id']}", f"dvs/{dvs['id']}"):
        assert client.delete(f"/api/v1/{path}").status_code == 204

    records = session.scalars(select(AuditRecord).order_by(AuditRecord.created_at)).all()
    seen = {(r.action, str(r.target_id)) for r in records if r.username == "root"}
    for kind, obj in (("dvs", dvs), ("port_group", pg), ("ip_pool", pool)):
        for verb in ("create", "update", "delete"):
            assert (f"{kind}.{verb}", obj["id"]) in seen
    update = next(r for r in records if r.action == "port_group.update")
    assert update.details == {"vlan_id": 9}


def test_failed_writes_are_not_audited(client: TestClient, session: Session) -> None:
    client.post("/api/v1/dvs", json={"name": "d", "mtu": 1})
    client.post("/api/v1/ip-pools", json={"name": "x", "port_group_id": "nope", "cidr": "x"})
    actions = session.scalars(select(AuditRecord.action)).all()
    assert not [a for a in actions if a.split(".")[0] in {"dvs", "port_group", "ip_pool"}]
