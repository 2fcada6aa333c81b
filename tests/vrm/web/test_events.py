"""The events and alarms pages: server-side tables, target links, acknowledge for writers."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests import factories
from tests.vrm.web.conftest import HTML, WebLogin
from vrm.models import Cluster
from vrm.models.base import utcnow
from vrm.models.enums import AlarmState, Severity
from vrm.sites.repository import DEFAULT_SITE_ID

pytestmark = pytest.mark.db


def _rows(html: str, kind: str) -> list[str]:
    """The ids of the table's rows, in order."""
    return re.findall(rf'data-{kind}-id="([^"]+)"', html)


def _cluster(session: Session, name: str) -> Cluster:
    cluster = Cluster(name=name, site_id=DEFAULT_SITE_ID)
    session.add(cluster)
    session.commit()
    return cluster


def test_events_are_newest_first_with_links_to_their_targets(
    web_login: WebLogin, session: Session
) -> None:
    client = web_login("ev-viewer", "viewer")
    cluster = _cluster(session, "c-ev")
    host = factories.add_host(session, cluster.id, name="host-ev")
    vm = factories.add_vm(session, cluster.id, name="vm-ev")
    now = utcnow()
    old = factories.add_event(session, type="host_fault", target_id=host.id, created_at=now)
    new = factories.add_event(
        session,
        type="vm_state_corrected",
        target_type="vm",
        target_id=vm.id,
        created_at=now + timedelta(seconds=1),
    )
    on_cluster = factories.add_event(
        session,
        type="cluster_created",
        target_type="cluster",
        target_id=cluster.id,
        created_at=now - timedelta(seconds=1),
    )
    answer = client.get("/events", headers=HTML)
    assert answer.status_code == 200
    assert _rows(answer.text, "event") == [str(new.id), str(old.id), str(on_cluster.id)]
    assert f'href="/vms/{vm.id}">vm-ev</a>' in answer.text
    assert f'href="/hosts/{host.id}">host-ev</a>' in answer.text
    assert f'href="/clusters/{cluster.id}">c-ev</a>' in answer.text
    # The newest first: new events from the live feed go on top of this table.
    assert "data-live-top=" in answer.text
    oldest_first = client.get("/events?sort=created_at", headers=HTML).text
    assert _rows(oldest_first, "event") == [str(on_cluster.id), str(old.id), str(new.id)]
    assert "data-live-top=" not in oldest_first


def test_events_filter_by_severity_type_target_and_text(
    web_login: WebLogin, session: Session
) -> None:
    client = web_login("ev-filter", "viewer")
    cluster = _cluster(session, "c-f")
    vm = factories.add_vm(session, cluster.id)
    bad = factories.add_event(session, type="task_failed", severity=Severity.MAJOR)
    info = factories.add_event(session, type="host_enrolled")
    on_vm = factories.add_event(
        session, type="vm_state_corrected", target_type="vm", target_id=vm.id
    )

    def ids(query: str) -> set[str]:
        answer = client.get(f"/events?{query}", headers=HTML)
        assert answer.status_code == 200, answer.text[:300]
        return set(_rows(answer.text, "event"))

    assert ids("severity=major") == {str(bad.id)}
    assert ids("type=host_enrolled") == {str(info.id)}
    assert ids("type=HOST_ENROLLED") == {str(info.id)}  # codes are lower case
    assert ids("type=enrol") == {str(info.id)}  # a part of the code finds it
    assert ids("target_type=vm") == {str(on_vm.id)}
    assert ids(f"target_id={vm.id}") == {str(on_vm.id)}
    assert ids("q=TASK_FAILED happ") == {str(bad.id)}
    assert ids("severity=major&type=host_enrolled") == set()
    # A filter's links keep the others.
    page = client.get("/events?severity=info&type=host_enrolled", headers=HTML).text
    assert "sort=type" in page
    assert re.search(r'href="/events\?[^"]*severity=info[^"]*sort=type', page)


def test_events_page_through_the_history(web_login: WebLogin, session: Session) -> None:
    client = web_login("ev-pager", "viewer")
    start = utcnow()
    made = [
        factories.add_event(session, type="host_fault", created_at=start + timedelta(seconds=i))
        for i in range(30)
    ]
    first = client.get("/events?per_page=25", headers=HTML).text
    assert _rows(first, "event") == [str(e.id) for e in reversed(made)][:25]
    assert "30 in all" in first
    assert "Page 1 of 2" in first
    second = client.get("/events?per_page=25&page=2", headers=HTML).text
    assert _rows(second, "event") == [str(e.id) for e in reversed(made)][25:]
    assert "data-live-top=" not in second  # only the first page takes new events


def test_alarms_are_active_first_and_only_writers_may_acknowledge(
    web_login: WebLogin, session: Session
) -> None:
    start = utcnow()
    cleared = factories.add_alarm(session, state=AlarmState.CLEARED, raised_at=start)
    older = factories.add_alarm(session, code="disk_full", raised_at=start - timedelta(minutes=5))
    acked = factories.add_alarm(
        session, state=AlarmState.ACKNOWLEDGED, raised_at=start + timedelta(minutes=1)
    )
    newer = factories.add_alarm(
        session, code="host_fault", severity=Severity.CRITICAL, raised_at=start
    )
    viewer = web_login("al-viewer", "viewer")
    answer = viewer.get("/events/alarms", headers=HTML)
    assert answer.status_code == 200
    order = [str(a.id) for a in (newer, older, acked, cleared)]
    assert _rows(answer.text, "alarm") == order
    assert "/acknowledge" not in answer.text
    operator = web_login("al-operator", "operator")
    page = operator.get("/events/alarms", headers=HTML).text
    # One button, on each active alarm.
    buttons = re.findall(r'data-action="POST /alarms/([^/]+)/acknowledge"', page)
    assert buttons == [str(newer.id), str(older.id)]
    # Both tabs count the active alarms.
    events = operator.get("/events", headers=HTML).text
    assert re.search(r"data-active-alarms[^>]*>2<", events)


def test_alarms_filter_sort_and_page(web_login: WebLogin, session: Session) -> None:
    client = web_login("al-filter", "viewer")
    start = utcnow()
    for i in range(3):
        factories.add_alarm(session, code="host_fault", raised_at=start + timedelta(seconds=i))
    minor = factories.add_alarm(session, code="disk_full", severity=Severity.MINOR)
    cleared = factories.add_alarm(session, code="disk_full", state=AlarmState.CLEARED)

    def ids(query: str) -> list[str]:
        answer = client.get(f"/events/alarms?{query}", headers=HTML)
        assert answer.status_code == 200, answer.text[:300]
        return _rows(answer.text, "alarm")

    assert ids("state=cleared") == [str(cleared.id)]
    assert ids("severity=minor") == [str(minor.id)]
    assert set(ids("code=disk_full")) == {str(minor.id), str(cleared.id)}
    assert ids("sort=severity&state=active")[-1] == str(minor.id)  # major before minor
    assert ids("sort=-severity&state=active")[0] == str(minor.id)
    assert len(ids("per_page=25")) == 5
    assert ids("per_page=25&page=2") == []


def test_acknowledging_through_the_api_with_the_pages_token(
    web_login: WebLogin, session: Session
) -> None:
    alarm = factories.add_alarm(session)
    client = web_login("al-ack", "operator")
    answer = client.post(
        f"/api/v1/alarms/{alarm.id}/acknowledge", headers={"X-CSRF-Token": client.csrf}
    )
    assert answer.status_code == 200, answer.text
    page = client.get("/events/alarms", headers=HTML).text
    assert "/acknowledge" not in page
    assert "by al-ack" in page


@pytest.mark.parametrize(
    "query",
    [
        "severity=bogus&page=abc&per_page=7&sort=;drop",
        "type=%00&target_type=Robert');--&target_id=not-a-uuid&q=" + "x" * 500,
        "q=%25_%5C&page=-4&sort=-nothing&type=" + "a" * 300,
        "state=exploded&code=%FF%FE&sort=-severity&page=99999999999",
    ],
)
def test_nonsense_in_the_url_is_never_a_500(
    web_login: WebLogin, session: Session, query: str
) -> None:
    factories.add_event(session)
    factories.add_alarm(session)
    client = web_login("ev-nonsense", "viewer")
    for path in ("/events", "/events/alarms"):
        answer = client.get(f"{path}?{query}", headers=HTML)
        assert answer.status_code == 200, (path, query, answer.text[:300])


def test_the_pages_need_a_login(anon_client: TestClient) -> None:
    for path in ("/events", "/events/alarms"):
        answer = anon_client.get(path, headers=HTML, follow_redirects=False)
        assert answer.status_code == 303
        assert answer.headers["location"].startswith("/login?next=")
