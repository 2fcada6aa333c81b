"""The task centre: a server-side table (filters, sort, pages in the URL) and one task's page."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from tests.factories import add_task, add_vm
from tests.vrm.web.conftest import HTML, WebLogin
from vrm.models import Cluster, Task
from vrm.models.base import utcnow
from vrm.models.enums import TaskState
from vrm.sites.repository import DEFAULT_SITE_ID

pytestmark = pytest.mark.db


@pytest.fixture
def tasks(session: Session) -> list[Task]:
    """Thirty start tasks of one VM, one a minute, the newest failed; a queued stop of
    another VM, newest of all."""
    cluster = Cluster(name=f"c-{uuid.uuid4().hex[:6]}", site_id=DEFAULT_SITE_ID)
    session.add(cluster)
    session.commit()
    web, db = add_vm(session, cluster.id, name="web-1"), add_vm(session, cluster.id, name="db-1")
    start = utcnow() - timedelta(hours=1)
    made = [
        add_task(
            session,
            type="vm.start",
            state=TaskState.SUCCEEDED,
            target_id=web.id,
            created_at=start + timedelta(minutes=i),
        )
        for i in range(30)
    ]
    failed = made[-1]
    failed.state, failed.progress, failed.step = TaskState.FAILED, 40, "start"
    failed.error_code, failed.error_message = "agent_unreachable", "agent at http://x down"
    failed.params, failed.result = {"previous_state": "stopped"}, {"note": "kept"}
    made.append(
        add_task(
            session,
            type="vm.stop",
            target_id=db.id,
            created_at=start + timedelta(minutes=45),
        )
    )
    session.commit()
    return made


def row_ids(html: str) -> list[str]:
    """The task ids of a table's rows, in order."""
    return re.findall(r'<tr data-task-id="([^"]+)"', html)


def test_newest_first_with_live_rows_and_a_cancel_button(
    web_login: WebLogin, tasks: list[Task]
) -> None:
    answer = web_login("ada", "operator").get("/tasks", headers=HTML)
    assert answer.status_code == 200, answer.text
    html = answer.text
    ids = row_ids(html)
    assert ids[0] == str(tasks[-1].id)
    assert ids[1] == str(tasks[-2].id)
    assert len(ids) == 31
    assert "31 in all" in html
    # Only the queued task can be cancelled.
    assert html.count("data-cancel-task") == 1
    assert f'data-action="POST /tasks/{tasks[-1].id}/cancel"' in html
    # The error with its code, message and hint; links to the targets by name.
    assert "agent_unreachable" in html
    assert "agent at http://x down" in html
    assert "VRM cannot reach the host&#39;s agent" in html
    assert ">web-1</a>" in html
    assert ">db-1</a>" in html
    assert "Start VM" in html
    # The first page sorted by newest takes new tasks from the feed.
    assert "data-insert-new" in html
    assert f'data-live="task:{tasks[-2].id}:progress"' in html


def test_filters_sort_and_pages_are_in_the_url(web_login: WebLogin, tasks: list[Task]) -> None:
    client = web_login("bea", "operator")
    failed = client.get("/tasks?state=failed", headers=HTML).text
    assert row_ids(failed) == [str(tasks[-2].id)]
    stops = client.get("/tasks?type=vm.stop", headers=HTML).text
    assert row_ids(stops) == [str(tasks[-1].id)]
    target = client.get(f"/tasks?target_id={tasks[0].target_id}", headers=HTML).text
    assert len(row_ids(target)) == 30
    assert "Show all" in target
    oldest = client.get("/tasks?sort=created_at&per_page=25", headers=HTML).text
    assert row_ids(oldest)[0] == str(tasks[0].id)
    assert len(row_ids(oldest)) == 25
    assert "data-insert-new" not in oldest
    assert 'href="/tasks?sort=created_at&amp;page=2&amp;per_page=25"' in oldest
    second = client.get("/tasks?sort=created_at&per_page=25&page=2", headers=HTML).text
    assert len(row_ids(second)) == 6
    assert "data-insert-new" not in second
    by_type = client.get("/tasks?sort=-type", headers=HTML).text
    assert row_ids(by_type)[0] == str(tasks[-1].id)


def test_nonsense_in_the_query_is_ignored(web_login: WebLogin, tasks: list[Task]) -> None:
    client = web_login("cid", "viewer")
    for query in (
        "state=exploded",
        "type=%00",
        "target_id=nope",
        "sort=password",
        "page=-4",
        "page=99999999999999999999",
        "per_page=7",
        "target_type=<script>",
        "sort=%27;drop",
    ):
        answer = client.get(f"/tasks?{query}", headers=HTML)
        assert answer.status_code == 200, query
        assert "<script>" not in answer.text.split("<main")[1], query
    assert len(row_ids(client.get("/tasks?state=exploded", headers=HTML).text)) == 31


def test_a_viewer_cannot_cancel(web_login: WebLogin, tasks: list[Task]) -> None:
    client = web_login("dot", "viewer")
    assert "data-action" not in client.get("/tasks", headers=HTML).text
    assert "data-action" not in client.get(f"/tasks/{tasks[-1].id}", headers=HTML).text


def test_a_tasks_page_shows_its_steps_params_result_and_error(
    web_login: WebLogin, tasks: list[Task]
) -> None:
    client = web_login("eve", "operator")
    failed = client.get(f"/tasks/{tasks[-2].id}", headers=HTML)
    assert failed.status_code == 200
    html = failed.text
    assert f'href="/vms/{tasks[-2].target_id}"' in html
    assert "web-1" in html
    assert "previous_state" in html
    assert "kept" in html
    assert "agent_unreachable" in html
    assert "VRM cannot reach the host" in html
    assert 'data-step="start" class="current"' in html
    assert "data-cancel-task" not in html
    queued = client.get(f"/tasks/{tasks[-1].id}", headers=HTML).text
    assert f'data-action="POST /tasks/{tasks[-1].id}/cancel"' in queued


def test_an_unknown_task_is_a_404_page(web_login: WebLogin) -> None:
    client = web_login("fay", "viewer")
    for path in (f"/tasks/{uuid.uuid4()}", "/tasks/42", "/tasks/%20"):
        answer = client.get(path, headers=HTML)
        assert answer.status_code == 404, path
        assert answer.headers["content-type"].startswith("text/html")


def test_the_task_centre_speaks_chinese(web_login: WebLogin, tasks: list[Task]) -> None:
    client = web_login("gus", "operator")
    html = client.get("/tasks", headers={**HTML, "Accept-Language": "zh-CN"}).text
    for text in ("任务中心", "启动虚拟机", "VRM 无法连接主机代理", "取消"):
        assert text in html, text


def test_a_gone_target_shows_the_start_of_its_id(session: Session, web_login: WebLogin) -> None:
    gone = uuid.uuid4()
    add_task(session, type="vm.delete", state=TaskState.SUCCEEDED, target_id=gone)
    html = web_login("hal", "viewer").get("/tasks", headers=HTML).text
    assert f'<a href="/vms/{gone}" title="{gone}">{str(gone)[:8]}…</a>' in html
