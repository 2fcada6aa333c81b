"""The console pages, in process: what they show for running, stopped and missing VMs."""

from __future__ import annotations

import re
import uuid

import pytest
from sqlalchemy.orm import Session

from tests.factories import add_host, add_vm
from tests.vrm.scheduler.factories import add_cluster
from tests.vrm.web.conftest import HTML, WebLogin
from vrm.auth import cookies
from vrm.models import Vm
from vrm.models.enums import VmState
from vrm.paths import STATIC_DIR, TEMPLATES_DIR
from vrm.web import i18n

pytestmark = pytest.mark.db

# A script element without a src: inline code, which the pages' CSP forbids.
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\ssrc=)[^>]*>", re.IGNORECASE)
INLINE_HANDLER = re.compile(r"\son[a-z]+\s*=", re.IGNORECASE)
STOPPED_TEXT = "The VM is stopped: it has a console only while it runs."


def a_vm(session: Session, state: VmState = VmState.RUNNING, *, template: bool = False) -> Vm:
    """A VM in ``state``; running and paused ones are on a host."""
    host = add_host(session, add_cluster(session).id)
    vm = add_vm(session, host.cluster_id)
    vm.state, vm.is_template = state, template
    if state in (VmState.RUNNING, VmState.PAUSED):
        vm.host_id = host.id
    session.commit()
    return vm


def test_the_vnc_console_of_a_running_vm(session: Session, web_login: WebLogin) -> None:
    vm = a_vm(session)
    client = web_login("ann", "operator")
    answer = client.get(f"/vms/{vm.id}/console", headers=HTML)
    assert answer.status_code == 200, answer.text[:300]
    html = answer.text
    assert 'data-console="vnc"' in html
    assert f'data-vm-id="{vm.id}"' in html
    assert 'data-state="idle"' in html, "a running VM's console connects when the page loads"
    assert "/static/console-vnc.js" in html
    assert "data-vnc-cad" in html
    assert "data-vnc-scale" in html
    assert "data-vnc-text" in html
    assert f'href="/vms/{vm.id}"' in html, "a link back to the VM"
    assert f'href="/vms/{vm.id}/console?type=serial"' in html, "the other console"
    assert STOPPED_TEXT not in html
    assert_no_inline_script(html)


def test_the_serial_console_page(session: Session, web_login: WebLogin) -> None:
    vm = a_vm(session, VmState.PAUSED)
    client = web_login("ben", "viewer")
    html = client.get(f"/vms/{vm.id}/console?type=serial", headers=HTML).text
    assert 'data-console="serial"' in html
    assert "/static/vendor/xterm/xterm.js" in html
    assert "/static/console-serial.js" in html
    assert "console-vnc.js" not in html
    assert f'href="/vms/{vm.id}/console?type=vnc"' in html
    assert 'data-state="idle"' in html
    assert_no_inline_script(html)


def test_a_stopped_vm_says_why_there_is_no_console(session: Session, web_login: WebLogin) -> None:
    vm = a_vm(session, VmState.STOPPED)
    operator = web_login("cid", "operator")
    html = operator.get(f"/vms/{vm.id}/console", headers=HTML).text
    assert 'data-state="stopped"' in html, "the page asks for no ticket the API would refuse"
    assert STOPPED_TEXT in html
    assert f'data-action="POST /vms/{vm.id}/actions/start"' in html
    viewer = web_login("dee", "viewer")
    html = viewer.get(f"/vms/{vm.id}/console?type=serial", headers=HTML).text
    assert STOPPED_TEXT in html
    assert "data-action=" not in html, "a viewer sees no action buttons"


def test_a_template_has_no_console(session: Session, web_login: WebLogin) -> None:
    vm = a_vm(session, VmState.STOPPED, template=True)
    html = web_login("eve", "admin").get(f"/vms/{vm.id}/console", headers=HTML).text
    assert 'data-state="template"' in html
    assert "A template has no console." in html
    assert "data-action=" not in html


def test_unknown_vms_and_nonsense_are_404_pages_or_ignored(
    session: Session, web_login: WebLogin
) -> None:
    client = web_login("fay", "viewer")
    for path in (f"/vms/{uuid.uuid4()}/console", "/vms/not-a-uuid/console?type=serial"):
        answer = client.get(path, headers=HTML)
        assert answer.status_code == 404, path
        assert "<html" in answer.text
    vm = a_vm(session)
    for query in ("type=bogus", "type=", "type=%00", "type=SERIAL&type=x"):
        answer = client.get(f"/vms/{vm.id}/console?{query}", headers=HTML)
        assert answer.status_code == 200, query
        assert 'data-console="vnc"' in answer.text, query


def test_console_pages_need_a_login(session: Session, web_login: WebLogin) -> None:
    vm = a_vm(session)
    client = web_login("gus", "viewer")
    client.cookies.clear()
    answer = client.get(f"/vms/{vm.id}/console", headers=HTML)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/login?next=")


def test_a_chinese_browser_gets_a_chinese_console_page(
    session: Session, web_login: WebLogin
) -> None:
    vm = a_vm(session, VmState.STOPPED)
    client = web_login("hal", "operator")
    html = client.get(
        f"/vms/{vm.id}/console", headers={**HTML, "Accept-Language": "zh-CN,zh;q=0.9"}
    ).text
    assert f"{vm.name} 的控制台" in html
    assert "只有运行中的虚拟机才有控制台" in html
    assert "重新连接" in html


def test_every_console_text_has_a_chinese_translation() -> None:
    catalogue = i18n.catalogue("zh_CN")
    texts = set()
    for template in (TEMPLATES_DIR / "consoles").glob("*.html"):
        texts |= set(re.findall(r"""\b_\(\s*["']([^"']+)["']""", template.read_text()))
    for script in ("console.js", "console-vnc.js", "console-serial.js"):
        source = (STATIC_DIR / script).read_text()
        texts |= set(re.findall(r'\bt\("([^"]+)"\)', source))
        texts |= set(re.findall(r'^\s+\d+: "([^"]+)",$', source, re.MULTILINE))
    assert len(texts) > 30, "the patterns found the texts"
    assert sorted(texts - catalogue.keys()) == []


def assert_no_inline_script(html: str) -> None:
    """Every script of the page is a file, and no element has an event handler."""
    assert INLINE_SCRIPT.findall(html) == []
    assert INLINE_HANDLER.findall(html) == []


def test_a_viewer_may_watch_and_type_as_the_api_allows(
    session: Session, web_login: WebLogin
) -> None:
    vm = a_vm(session)
    viewer = web_login("ida", "viewer")
    html = viewer.get(f"/vms/{vm.id}/console", headers=HTML).text
    assert "data-can-type" in html
    assert "data-vnc-cad" in html
    # The page offers what the API gives: a viewer's ticket, whose relay takes keys.
    ticket = viewer.post(
        f"/api/v1/vms/{vm.id}/console",
        json={"type": "serial"},
        headers={cookies.CSRF_HEADER: viewer.csrf},
    )
    assert ticket.status_code == 201, ticket.text
    assert ticket.json()["url"].startswith(f"/api/v1/vms/{vm.id}/console/ws?ticket=")
