"""The network pages: switches, port groups, IP pools with counts and allocation lists."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from sqlalchemy.orm import Session

from tests.factories import add_vm
from tests.vrm.web.conftest import HTML, WebClient, WebLogin
from vrm.auth import cookies
from vrm.models import Cluster, IpAllocation, VmNic
from vrm.sites.repository import DEFAULT_SITE_ID
from vrm.web.pages.networks import vlan_ranges

pytestmark = pytest.mark.db


def made(client: WebClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """Create something through the API as the page's scripts do."""
    answer = client.post(f"/api/v1{path}", json=body, headers={cookies.CSRF_HEADER: client.csrf})
    assert answer.status_code == 201, answer.text
    result: dict[str, Any] = answer.json()
    return result


@pytest.fixture
def network(web_login: WebLogin) -> dict[str, Any]:
    """A switch, an access and a trunk port group, and a pool with a reservation."""
    client = web_login("netadmin", "admin")
    dvs = made(client, "/dvs", {"name": "prod-dvs", "bridge": "ovs-prod", "mtu": 9000})
    access = made(client, "/port-groups", {"dvs_id": dvs["id"], "name": "web", "vlan_id": 100})
    trunk = made(
        client,
        "/port-groups",
        {"dvs_id": dvs["id"], "name": "guests", "vlan_id": 5, "trunk_vlans": [10, 11, 12, 20]},
    )
    pool = made(
        client,
        "/ip-pools",
        {
            "name": "web-net",
            "port_group_id": access["id"],
            "cidr": "10.20.0.0/24",
            "gateway": "10.20.0.1",
            "dns_servers": ["10.20.0.2"],
            "ranges": [{"start": "10.20.0.10", "end": "10.20.0.19"}],
            "reserved": ["10.20.0.15"],
        },
    )
    return {"client": client, "dvs": dvs, "access": access, "trunk": trunk, "pool": pool}


def bind_address(session: Session, pool_id: str, port_group_id: str, address: str) -> str:
    """A VM whose NIC holds ``address`` of the pool; the VM's name."""
    cluster = Cluster(name=f"c-{uuid.uuid4().hex[:6]}", site_id=DEFAULT_SITE_ID)
    session.add(cluster)
    session.flush()
    vm = add_vm(session, cluster.id, name="db-1")
    nic = VmNic(
        vm_id=vm.id, port_group_id=uuid.UUID(port_group_id), slot=0, mac="02:4f:56:00:00:01"
    )
    session.add(nic)
    session.flush()
    session.add(
        IpAllocation(pool_id=uuid.UUID(pool_id), address=address, nic_id=nic.id, mac=nic.mac)
    )
    session.commit()
    return vm.name


def cell(html: str, row_attr: str, data: str) -> str:
    """The text of the ``data-<data>`` cell in the row marked ``row_attr``."""
    row = html.split(row_attr, 1)[1].split("</tr>", 1)[0]
    found = re.search(rf"data-{data}>(\d+)<", row)
    assert found, row
    return found.group(1)


def test_the_overview_shows_switches_port_groups_and_pool_counts(
    network: dict[str, Any],
) -> None:
    html = network["client"].get("/networks", headers=HTML).text
    assert "prod-dvs" in html
    assert "ovs-prod" in html
    assert ">9000<" in html
    assert "VLAN 100" in html
    # The trunk's VLANs are shown as runs, with its native VLAN.
    assert "10-12, 20" in html
    assert "native VLAN 5" in html
    pool_row = f'data-pool-id="{network["pool"]["id"]}"'
    assert "10.20.0.0/24" in html
    # 10 addresses in the range, one reserved inside it: 1 used, 9 free.
    assert cell(html, pool_row, "used") == "1"
    assert cell(html, pool_row, "free") == "9"
    assert cell(html, pool_row, "total") == "10"
    assert 'data-api-form="POST /dvs"' in html
    assert 'data-api-form="POST /port-groups"' in html
    assert 'data-pool-form="POST /ip-pools"' in html


def test_a_pool_page_lists_its_allocations_with_the_vm(
    network: dict[str, Any], session: Session
) -> None:
    pool, client = network["pool"], network["client"]
    vm_name = bind_address(session, pool["id"], network["access"]["id"], "10.20.0.11")
    html = client.get(f"/networks/ip-pools/{pool['id']}", headers=HTML).text
    assert cell(html, 'class="cards"', "used") == "2"
    assert cell(html, 'class="cards"', "free") == "8"
    row = html.split('data-address="10.20.0.11"', 1)[1].split("</tr>", 1)[0]
    assert "02:4f:56:00:00:01" in row
    assert vm_name in row
    assert "eth0" in row
    reserved = html.split('data-address="10.20.0.15"', 1)[1].split("</tr>", 1)[0]
    assert "Reserved" in reserved
    # The filter keeps only the reservations.
    only = client.get(f"/networks/ip-pools/{pool['id']}?reserved=true", headers=HTML).text
    assert 'data-address="10.20.0.15"' in only
    assert 'data-address="10.20.0.11"' not in only
    searched = client.get(f"/networks/ip-pools/{pool['id']}?q=0.11", headers=HTML).text
    assert 'data-address="10.20.0.11"' in searched
    assert 'data-address="10.20.0.15"' not in searched
    # The edit form carries the pool's values, the range rows named as the API names them.
    assert 'name="ranges.0.start" maxlength="45" size="15" value="10.20.0.10"' in html
    assert f'data-pool-form="PATCH /ip-pools/{pool["id"]}"' in html


def test_switch_and_port_group_pages(network: dict[str, Any]) -> None:
    client, dvs, trunk = network["client"], network["dvs"], network["trunk"]
    html = client.get(f"/networks/dvs/{dvs['id']}", headers=HTML).text
    assert "guests" in html
    assert "web" in html
    assert f'data-action="DELETE /dvs/{dvs["id"]}"' in html
    assert f'data-api-form="PATCH /dvs/{dvs["id"]}"' in html
    html = client.get(f"/networks/port-groups/{trunk['id']}", headers=HTML).text
    assert "10-12, 20" in html
    assert f'data-action="DELETE /port-groups/{trunk["id"]}"' in html
    assert 'value="10, 11, 12, 20"' in html
    access = client.get(f"/networks/port-groups/{network['access']['id']}", headers=HTML).text
    assert "web-net" in access


def test_a_viewer_sees_everything_but_no_form_or_button(
    network: dict[str, Any], web_login: WebLogin
) -> None:
    viewer = web_login("watcher", "viewer")
    pages = [
        "/networks",
        f"/networks/dvs/{network['dvs']['id']}",
        f"/networks/port-groups/{network['access']['id']}",
        f"/networks/ip-pools/{network['pool']['id']}",
    ]
    for path in pages:
        html = viewer.get(path, headers=HTML).text
        assert "prod-dvs" in html or "web-net" in html, path
        for marker in ("data-api-form", "data-pool-form", "data-action", "<details"):
            assert marker not in html, (path, marker)


@pytest.mark.parametrize(
    "path",
    [
        "/networks/dvs/{missing}",
        "/networks/port-groups/{missing}",
        "/networks/ip-pools/{missing}",
        "/networks/dvs/not-a-uuid",
        "/networks/ip-pools/%00",
    ],
)
def test_unknown_objects_are_404_pages(web_login: WebLogin, path: str) -> None:
    client = web_login("lost", "operator")
    answer = client.get(path.format(missing=uuid.uuid4()), headers=HTML)
    assert answer.status_code == 404
    assert "text/html" in answer.headers["content-type"]


def test_nonsense_in_the_query_is_ignored(network: dict[str, Any]) -> None:
    client, pool = network["client"], network["pool"]
    for query in (
        "sort=nope&page=-3&per_page=7&reserved=maybe",
        "q=%00%01&sort=-address&page=99999999999",
        "q=" + "x" * 500,
        "page=abc&sort=mac",
    ):
        answer = client.get(f"/networks/ip-pools/{pool['id']}?{query}", headers=HTML)
        assert answer.status_code == 200, (query, answer.text[:300])
    assert client.get("/networks?sort=x&page=-1", headers=HTML).status_code == 200


def test_an_empty_installation_shows_empty_tables(web_login: WebLogin) -> None:
    html = web_login("first", "admin").get("/networks", headers=HTML).text
    assert "No switches yet." in html
    assert "Create a switch first." in html


def test_trunk_vlans_are_shown_as_runs() -> None:
    assert vlan_ranges([]) == ""
    assert vlan_ranges([20, 10, 11, 12, 4094]) == "10-12, 20, 4094"
