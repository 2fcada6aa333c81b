"""Host and cluster pages: tables driven by the URL, detail pages, forms only for writers."""

from __future__ import annotations

import re
import uuid

import pytest
from sqlalchemy.orm import Session

from tests import factories
from tests.vrm.web.conftest import HTML, WebLogin
from vrm.auth import cookies
from vrm.models import Cluster, PlacementRule, PlacementRuleVm
from vrm.models.enums import HostState, RuleKind, VmState
from vrm.sites.repository import DEFAULT_SITE_ID

pytestmark = pytest.mark.db

NONSENSE = (
    "state=bogus&page=abc&per_page=7&sort=;drop",
    "cluster_id=not-a-uuid&q=" + "x" * 500,
    "q=%25_%5C&page=-4&sort=-nothing&drs_mode=%00",
    "q=%00&cluster_id=%00",
    "page=99999999999999999999",
)


@pytest.fixture
def lab(session: Session) -> dict[str, uuid.UUID]:
    """Two clusters; three hosts (one faulty); VMs on one host; a rule; a datastore."""
    east = Cluster(site_id=DEFAULT_SITE_ID, name="east", cpu_overcommit=4.0, mem_overcommit=2.0)
    west = Cluster(site_id=DEFAULT_SITE_ID, name="west")
    session.add_all([east, west])
    session.commit()
    alpha = factories.add_host(session, east.id, name="alpha")
    beta = factories.add_host(session, east.id, name="beta")
    beta.state = HostState.FAULT
    gamma = factories.add_host(session, west.id, name="gamma")
    alpha.hypervisor, alpha.libvirt_version, alpha.cpu_model = "QEMU 7.2.0", "9.0.0", "EPYC-Rome"
    alpha.usage = {"cpu_percent": 12.5, "memory_total_mib": 16384, "memory_used_mib": 4096}
    vms = [factories.add_vm(session, east.id, name=f"app-{n}") for n in range(3)]
    for vm in vms:
        vm.host_id, vm.state = alpha.id, VmState.RUNNING
    vms[2].state = VmState.PAUSED
    session.commit()
    rule = PlacementRule(cluster_id=east.id, name="keep-apart", kind=RuleKind.ANTI_AFFINITY)
    session.add(rule)
    session.flush()
    session.add_all(PlacementRuleVm(rule_id=rule.id, vm_id=vm.id) for vm in vms[:2])
    store = factories.add_datastore(session, name="local-alpha")
    factories.link_host_datastore(session, alpha.id, store.id)
    return {"east": east.id, "west": west.id, "alpha": alpha.id, "gamma": gamma.id}


def names_in(html: str, prefix: str) -> list[str]:
    """The link texts of ``prefix`` links (hosts, clusters) in page order."""
    return re.findall(rf'<a href="{prefix}[0-9a-f-]{{36}}">([^<]+)</a>', html)


def test_the_host_table_searches_filters_sorts_and_pages(
    web_login: WebLogin, lab: dict[str, uuid.UUID]
) -> None:
    client = web_login("vic", "viewer")
    assert names_in(client.get("/hosts", headers=HTML).text, "/hosts/") == [
        "alpha",
        "beta",
        "gamma",
    ]
    assert names_in(client.get("/hosts?sort=-name", headers=HTML).text, "/hosts/") == [
        "gamma",
        "beta",
        "alpha",
    ]
    assert names_in(client.get("/hosts?state=fault", headers=HTML).text, "/hosts/") == ["beta"]
    west = client.get(f"/hosts?cluster_id={lab['west']}", headers=HTML).text
    assert names_in(west, "/hosts/") == ["gamma"]
    assert names_in(client.get("/hosts?q=ALP", headers=HTML).text, "/hosts/") == ["alpha"]
    second = client.get("/hosts?per_page=25&page=2", headers=HTML).text
    assert names_in(second, "/hosts/") == []
    assert "Page 2 of 1" in second


def test_the_host_table_shows_usage_allocation_and_vms(
    web_login: WebLogin, lab: dict[str, uuid.UUID]
) -> None:
    html = web_login("val", "viewer").get("/hosts", headers=HTML).text
    alpha = lab["alpha"]
    assert f'data-host-usage="{alpha}" data-kind="cpu" data-value="12.5"' in html
    assert f'data-host-usage="{alpha}" data-kind="memory" data-value="25.0"' in html
    # alpha: 32 logical CPUs x 4.0; three VMs of 1 vCPU placed.
    assert "3 / 128" in html
    assert f'<a href="/vms?host_id={alpha}">3</a>' in html
    assert f'data-live-state="host:{alpha}"' in html


def test_a_host_page_shows_facts_datastores_and_vms(
    web_login: WebLogin, lab: dict[str, uuid.UUID]
) -> None:
    client = web_login("viv", "viewer")
    answer = client.get(f"/hosts/{lab['alpha']}", headers=HTML)
    assert answer.status_code == 200
    html = answer.text
    for fact in ("EPYC-Rome", "QEMU 7.2.0", "9.0.0", "1 × 4 × 8", "2400 MHz", "local-alpha"):
        assert fact in html, fact
    assert re.findall(r'<a href="/vms/[0-9a-f-]{36}">([^<]+)</a>', html) == [
        "app-0",
        "app-1",
        "app-2",
    ]
    paused = client.get(f"/hosts/{lab['alpha']}?state=paused", headers=HTML).text
    assert re.findall(r'<a href="/vms/[0-9a-f-]{36}">([^<]+)</a>', paused) == ["app-2"]
    assert "Remove host" not in html  # a viewer gets no buttons


def test_an_operator_may_remove_a_host(web_login: WebLogin, lab: dict[str, uuid.UUID]) -> None:
    html = web_login("ola", "operator").get(f"/hosts/{lab['gamma']}", headers=HTML).text
    assert f'data-action="DELETE /hosts/{lab["gamma"]}"' in html
    assert "data-confirm=" in html


def test_unknown_hosts_and_clusters_are_404_pages(web_login: WebLogin) -> None:
    client = web_login("nik", "viewer")
    for path in ("/hosts/", "/clusters/"):
        for ident in (str(uuid.uuid4()), "not-a-uuid"):
            answer = client.get(path + ident, headers=HTML)
            assert answer.status_code == 404, path + ident
            assert "<html" in answer.text


def test_nonsense_in_the_url_is_never_a_500(web_login: WebLogin, lab: dict[str, uuid.UUID]) -> None:
    client = web_login("nonsense", "viewer")
    paths = ("/hosts", f"/hosts/{lab['alpha']}", "/clusters", f"/clusters/{lab['east']}", "/")
    for query in NONSENSE:
        for path in paths:
            answer = client.get(f"{path}?{query}", headers=HTML)
            assert answer.status_code == 200, (path, query, answer.text[:300])


def test_the_cluster_table(web_login: WebLogin, lab: dict[str, uuid.UUID]) -> None:
    client = web_login("cat", "viewer")
    html = client.get("/clusters", headers=HTML).text
    assert names_in(html, "/clusters/") == ["east", "west"]
    assert names_in(client.get("/clusters?sort=-name", headers=HTML).text, "/clusters/") == [
        "west",
        "east",
    ]
    assert names_in(client.get("/clusters?q=wes", headers=HTML).text, "/clusters/") == ["west"]
    assert f'<a href="/hosts?cluster_id={lab["east"]}">2</a>' in html
    assert "3 / 256" in html  # east: two hosts of 32 CPUs x 4.0
    assert "data-api-form" not in html  # a viewer cannot create clusters


def test_a_writer_gets_the_create_form(web_login: WebLogin, lab: dict[str, uuid.UUID]) -> None:
    html = web_login("wes", "operator").get("/clusters", headers=HTML).text
    assert 'data-api-form="POST /clusters"' in html


def test_a_cluster_page_shows_settings_hosts_and_rules(
    web_login: WebLogin, lab: dict[str, uuid.UUID]
) -> None:
    client = web_login("cleo", "viewer")
    html = client.get(f"/clusters/{lab['east']}", headers=HTML).text
    assert '<dd data-setting="cpu_overcommit">× 4.0</dd>' in html
    assert names_in(html, "/hosts/") == ["alpha", "beta"]
    assert "keep-apart" in html
    assert "Keep apart (anti-affinity)" in html
    row = re.search(r"<tr data-rule-row=.*?</tr>", html, re.S)
    assert row
    assert sorted(re.findall(r'<a href="/vms/[0-9a-f-]{36}">([^<]+)</a>', row.group(0))) == [
        "app-0",
        "app-1",
    ]
    for writer_only in ("data-api-form", "data-rule-form", "data-action", "Save settings"):
        assert writer_only not in html, writer_only


def test_a_writer_edits_a_cluster_through_the_api(
    web_login: WebLogin, lab: dict[str, uuid.UUID]
) -> None:
    client = web_login("otto", "operator")
    east = lab["east"]
    html = client.get(f"/clusters/{east}", headers=HTML).text
    assert f'data-api-form="PATCH /clusters/{east}"' in html
    assert 'name="cpu_overcommit"' in html
    assert "data-rule-form" in html
    assert 'data-action="DELETE /placement-rules/' in html
    # The form's contract: the API names the field it refuses, the page puts it there.
    headers = {cookies.CSRF_HEADER: client.csrf}
    refused = client.patch(f"/api/v1/clusters/{east}", json={"cpu_overcommit": 64}, headers=headers)
    assert refused.status_code == 422
    assert refused.json()["error"]["details"]["errors"][0]["loc"] == ["body", "cpu_overcommit"]
    saved = client.patch(f"/api/v1/clusters/{east}", json={"drs_threshold": 5}, headers=headers)
    assert saved.status_code == 200, saved.text
    after = client.get(f"/clusters/{east}", headers=HTML).text
    assert '<dd data-setting="drs_threshold">5 ' in after
