"""The VM create wizard's page: the choices it offers, and who may open it."""

from __future__ import annotations

import re
import uuid

import pytest
from sqlalchemy.orm import Session

from tests.factories import add_datastore, add_host, add_vm, link_host_datastore
from tests.vrm.web.conftest import HTML, WebLogin
from vrm.models import Cluster, Dvs, Image, IpPool, PortGroup
from vrm.models.enums import HostState, ImageFormat, ImageSource, ImageState
from vrm.sites.repository import DEFAULT_SITE_ID
from vrm.web.pages import vm_create

pytestmark = pytest.mark.db


def add_cluster(session: Session, name: str) -> Cluster:
    cluster = Cluster(site_id=DEFAULT_SITE_ID, name=name)
    session.add(cluster)
    session.commit()
    return cluster


def add_image(
    session: Session, datastore_id: uuid.UUID, name: str, fmt: ImageFormat, state: ImageState
) -> Image:
    image = Image(
        name=name,
        format=fmt,
        datastore_id=datastore_id,
        volume_name=f"img-{name}",
        source=ImageSource.UPLOAD,
        state=state,
        virtual_size_bytes=3 * 1024 * 1024 + 1,
    )
    session.add(image)
    session.commit()
    return image


def add_port_group(session: Session, name: str, vlan_id: int, cidr: str | None) -> PortGroup:
    dvs = Dvs(site_id=DEFAULT_SITE_ID, name=f"dvs-{name}", bridge=f"br{uuid.uuid4().hex[:8]}")
    session.add(dvs)
    session.flush()
    group = PortGroup(dvs_id=dvs.id, name=name, vlan_id=vlan_id)
    session.add(group)
    session.flush()
    if cidr:
        session.add(IpPool(port_group_id=group.id, name=f"pool-{name}", cidr=cidr))
    session.commit()
    return group


def option(html: str, value: object) -> str:
    """The ``<option>`` element whose value is ``value`` (fails when there is none)."""
    found = re.search(rf'<option value="{value}"[^>]*>[^<]*</option>', html)
    assert found, f"no option {value}"
    return found.group(0)


def test_the_wizard_offers_the_inventory(session: Session, web_login: WebLogin) -> None:
    client = web_login("olga", "operator")
    cluster = add_cluster(session, "prod")
    other = add_cluster(session, "lab")
    host = add_host(session, cluster.id, name="node-1")
    down = add_host(session, cluster.id, name="node-2")
    down.state = HostState.FAULT
    session.commit()
    store = add_datastore(session, name="ssd")
    link_host_datastore(session, host.id, store.id)
    iso = add_image(session, store.id, "debian-12", ImageFormat.ISO, ImageState.READY)
    disk = add_image(session, store.id, "cirros", ImageFormat.QCOW2, ImageState.READY)
    partial = add_image(session, store.id, "half", ImageFormat.ISO, ImageState.UPLOADING)
    template = add_vm(session, other.id, name="tpl-web")
    template.is_template = True
    plain = add_vm(session, other.id, name="just-a-vm")
    session.commit()
    group = add_port_group(session, "v100", 100, "10.1.0.0/24")

    answer = client.get("/vms/new", headers=HTML)
    assert answer.status_code == 200
    html = answer.text
    assert f'data-site="{DEFAULT_SITE_ID}">prod</option>' in option(html, cluster.id)
    assert "lab</option>" in option(html, other.id)
    assert f'data-cluster="{cluster.id}"' in option(html, host.id)
    # A host that cannot take VMs is shown, but cannot be chosen.
    assert "disabled" in option(html, down.id)
    assert "disabled" not in option(html, host.id)
    assert "debian-12" in option(html, iso.id)
    assert 'data-min-mib="4"' in option(html, disk.id)
    assert str(partial.id) not in html
    assert "tpl-web" in option(html, template.id)
    assert str(plain.id) not in html
    # Datastores say which clusters' hosts reach them.
    assert f'data-clusters="{cluster.id}"' in option(html, store.id)
    # Port groups: their switch, VLAN and IP pool (twice: the first NIC and the row template).
    pg = option(html, group.id)
    assert 'data-vlan="100"' in pg
    assert 'data-cidrs="10.1.0.0/24"' in pg
    assert "VLAN 100" in pg
    assert html.count(f'value="{group.id}"') == 2
    # Fields are named after the API's body, so its errors find them.
    for name in ("cluster_id", "host_id", "vcpus", "max_vcpus", "memory_mib", "max_memory_mib"):
        assert f'name="{name}"' in html
    for name in ("disks.0.size_mib", "nics.0.ips", "cdroms.0.image_id", "user_data", "ssh_keys"):
        assert f'name="{name}"' in html
    assert "wizard.js" in html


def test_long_lists_are_cut_and_the_page_says_so(
    session: Session, web_login: WebLogin, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = web_login("quinn", "operator")
    monkeypatch.setitem(vm_create.LIMITS, "clusters", 2)
    for name in ("c-a", "c-b", "c-c"):
        add_cluster(session, name)
    html = client.get("/vms/new", headers=HTML).text
    assert "c-b</option>" in html
    assert "c-c</option>" not in html
    assert "only their first entries are offered" in html


def test_the_wizard_without_port_groups_or_images(web_login: WebLogin) -> None:
    client = web_login("pete", "admin")
    html = client.get("/vms/new", headers=HTML).text
    assert "No ISO image is ready." in html
    assert "There is no port group yet." in html
    assert 'name="nics.0.port_group_id"' not in html


def test_the_wizard_in_chinese(web_login: WebLogin) -> None:
    client = web_login("lin", "operator")
    html = client.get("/vms/new", headers={**HTML, "Accept-Language": "zh-CN"}).text
    assert "创建虚拟机" in html
    assert "来源" in html


def test_a_viewer_may_not_open_the_wizard(web_login: WebLogin) -> None:
    client = web_login("vera", "viewer")
    answer = client.get("/vms/new", headers=HTML)
    assert answer.status_code == 403
    assert "forbidden" in answer.text
    assert 'name="cluster_id"' not in answer.text
    # The VM list offers no way there either.
    assert 'href="/vms/new"' not in client.get("/vms", headers=HTML).text


def test_the_wizard_needs_a_login(web_login: WebLogin) -> None:
    client = web_login("walt", "operator")
    client.cookies.clear()
    answer = client.get("/vms/new", headers=HTML)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=%2Fvms%2Fnew"
