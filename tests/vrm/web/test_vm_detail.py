"""A VM's page: its facts and devices, and the buttons its state and the user's role allow."""

from __future__ import annotations

import re
import uuid

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session

from tests.factories import add_datastore, add_event, add_host, add_task, add_vm, add_volume
from tests.vrm.web.conftest import HTML, WebLogin
from vrm.models import (
    Cluster,
    Dvs,
    Image,
    PortGroup,
    Vm,
    VmCdrom,
    VmDisk,
    VmNic,
    VmSnapshot,
)
from vrm.models.enums import ImageFormat, ImageSource, ImageState, TaskState, VmState
from vrm.sites.repository import DEFAULT_SITE_ID
from vrm.vms.states import RULES, Operation

pytestmark = pytest.mark.db

# The operations the page has buttons (or forms) for.
BUTTON_OPS = {
    "attach-disk",
    "detach-disk",
    "attach-nic",
    "detach-nic",
    "set-ips",
    "start",
    "stop",
    "reboot",
    "pause",
    "resume",
    "resize",
    "snapshot",
    "clone",
    "convert-to-template",
    "delete",
    "change-media",
    "migrate",
}


@pytest.fixture
def vm(session: Session) -> Vm:
    """A stopped VM on a host with a disk, a NIC on VLAN 42, an ISO in its CD-ROM, a snapshot,
    a failed task and an event."""
    cluster = Cluster(name=f"c-{uuid.uuid4().hex[:6]}", site_id=DEFAULT_SITE_ID)
    session.add(cluster)
    session.commit()
    host = add_host(session, cluster.id, name="node-7")
    made = add_vm(session, cluster.id, name="web-1")
    made.host_id, made.state = host.id, VmState.STOPPED
    datastore = add_datastore(session, name="local-ds")
    volume = add_volume(session, datastore.id, name="web-1-disk0", capacity_mib=2048)
    dvs = Dvs(site_id=DEFAULT_SITE_ID, name="dvs-a", bridge=f"br{uuid.uuid4().hex[:6]}")
    session.add(dvs)
    session.flush()
    group = PortGroup(dvs_id=dvs.id, name="pg-web", vlan_id=42)
    image = Image(
        name="debian.iso",
        format=ImageFormat.ISO,
        datastore_id=datastore.id,
        volume_name="debian.iso",
        source=ImageSource.PATH,
        state=ImageState.READY,
    )
    session.add_all([group, image])
    session.flush()
    session.add_all(
        [
            VmDisk(vm_id=made.id, volume_id=volume.id, device="vda"),
            VmNic(vm_id=made.id, port_group_id=group.id, slot=0, mac="52:54:00:aa:bb:01"),
            VmCdrom(vm_id=made.id, device="hda", image_id=image.id),
            VmCdrom(vm_id=made.id, device="hdb"),
            VmSnapshot(vm_id=made.id, name="before-upgrade", description="clean"),
        ]
    )
    session.commit()
    failed = add_task(session, type="vm.start", state=TaskState.FAILED, target_id=made.id)
    failed.error_code, failed.error_message = "no_valid_host", "no host can take this VM"
    add_task(session, type="vm.resize", state=TaskState.QUEUED, target_id=made.id)
    add_event(session, type="vm_state_corrected", target_type="vm", target_id=made.id)
    session.commit()
    return made


def enabled_ops(html: str) -> set[str]:
    """The operations whose buttons are enabled on a page."""
    found = set()
    for tag in re.findall(r"<button[^>]*data-op=[^>]*>", html, flags=re.S):
        if not re.search(r"\sdisabled\b", tag):
            found.add(re.search(r'data-op="([^"]+)"', tag).group(1))  # type: ignore[union-attr]
    return found


def set_state(session: Session, vm: Vm, state: VmState, task_state: str | None = None) -> None:
    session.execute(update(Vm).where(Vm.id == vm.id).values(state=state, task_state=task_state))
    session.commit()


def test_the_page_shows_the_vm_its_devices_tasks_and_events(web_login: WebLogin, vm: Vm) -> None:
    client = web_login("olga", "operator")
    answer = client.get(f"/vms/{vm.id}", headers=HTML)
    assert answer.status_code == 200, answer.text
    html = answer.text
    assert "<h1>web-1</h1>" in html
    assert 'href="/hosts/' in html
    assert "node-7" in html
    for shown in ("vda", "2.0 GiB", "local-ds", "web-1-disk0"):
        assert shown in html
    for shown in ("52:54:00:aa:bb:01", "pg-web", ">42<", "debian.iso", "before-upgrade"):
        assert shown in html
    # The failed task, with its code and the hint for it; the queued one can be cancelled.
    assert "no_valid_host" in html
    assert "No host can take the VM" in html
    assert 'data-action="POST /tasks/' in html
    assert "vm_state_corrected" in html
    assert f'data-vm-page="{vm.id}"' in html
    assert "data-live-page" in html
    assert f'href="/vms/{vm.id}/console?type=vnc"' in html
    assert f'href="/vms/{vm.id}/console?type=serial"' in html
    assert 'data-action="DELETE /vms/' in html
    assert "delete_volumes=true" in html


def test_a_stopped_vm_may_be_started_not_stopped(web_login: WebLogin, vm: Vm) -> None:
    html = web_login("pia", "operator").get(f"/vms/{vm.id}", headers=HTML).text
    enabled = enabled_ops(html)
    assert {"start", "delete", "clone", "resize", "snapshot", "change-media"} <= enabled
    assert {"stop", "reboot", "pause", "resume"}.isdisjoint(enabled)
    # Each destructive action asks first.
    for action in ("/actions/stop", "/actions/reboot", "?delete_volumes=true"):
        tags = re.findall(rf"<button[^>]*{re.escape(action)}[^>]*>", html, flags=re.S)
        assert tags, action
        assert all("data-confirm=" in tag for tag in tags), action
    assert "&#34;mode&#34;: &#34;poweroff&#34;" in html or '"mode":"poweroff"' in html.replace(
        "&#34;", '"'
    )


def test_the_buttons_follow_the_state(session: Session, web_login: WebLogin, vm: Vm) -> None:
    client = web_login("quinn", "admin")
    for state in VmState:
        set_state(session, vm, state)
        allowed = {op.value for op, rule in RULES.items() if state in rule.allowed}
        html = client.get(f"/vms/{vm.id}", headers=HTML).text
        assert enabled_ops(html) == BUTTON_OPS & allowed, state
    # While an operation runs nothing else may start, and the page says what runs.
    set_state(session, vm, VmState.STARTING, task_state=Operation.START.value)
    html = client.get(f"/vms/{vm.id}", headers=HTML).text
    assert enabled_ops(html) == set()
    assert "Start VM…" in html


def test_a_template_may_only_be_cloned_exported_migrated_or_deleted(
    session: Session, web_login: WebLogin, vm: Vm
) -> None:
    session.execute(update(Vm).where(Vm.id == vm.id).values(is_template=True))
    session.commit()
    html = web_login("rita", "admin").get(f"/vms/{vm.id}", headers=HTML).text
    assert enabled_ops(html) == {"clone", "export-image", "migrate", "delete"}
    assert "Export as image" in html


def test_a_viewer_sees_no_buttons(web_login: WebLogin, vm: Vm) -> None:
    html = web_login("sam", "viewer").get(f"/vms/{vm.id}", headers=HTML).text
    assert "web-1" in html
    assert "<button" not in html.split('id="main"')[1].split("</main>")[0]
    assert "data-action" not in html
    assert "data-api-form" not in html


def test_an_unknown_or_malformed_vm_is_a_404_page(web_login: WebLogin) -> None:
    client = web_login("tom", "viewer")
    for path in (f"/vms/{uuid.uuid4()}", "/vms/not-a-uuid", "/vms/%00"):
        answer = client.get(path, headers=HTML)
        assert answer.status_code == 404, path
        assert answer.headers["content-type"].startswith("text/html")
        assert "not_found" in answer.text


def test_the_page_speaks_chinese(web_login: WebLogin, vm: Vm) -> None:
    client = web_login("uma", "operator")
    html = client.get(f"/vms/{vm.id}", headers={**HTML, "Accept-Language": "zh-CN"}).text
    for text in ("关机", "立即断电", "快照", "磁盘", "网卡"):
        assert text in html, text
