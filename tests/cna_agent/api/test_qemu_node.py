"""The whole agent stack on the real qemu:///system: HTTP API -> node -> libvirt, OVS, qcow2.

One TCG guest goes through the life the issue names: define, start, pause, resume,
vCPU hot-add, a disk and a NIC on a VLAN port group attached live (the OVS port's
tag checked), stop, undefine with its volumes; and the storage pool and volume life
cycle around it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import libvirt
import pytest
from fastapi.testclient import TestClient

from cna_agent.api.app import create_app
from cna_agent.config import Settings
from cna_agent.node import Node
from cna_agent.seed import read_seed
from cna_agent.state import Identity, hash_credential
from cna_agent.virt.connection import Hypervisor
from cna_agent.virt.plug import PlugNames
from tests.cna_agent.conftest import PREFIX, TEST_MAC_PREFIX
from tests.helpers import error_of

CREDENTIAL = "cnav_qemu-node-test"


@pytest.fixture
def pool_dir() -> Iterator[Path]:
    """A folder QEMU (another user) can reach; pytest's own tmp folders are 0700."""
    path = Path("/var/tmp") / f"{PREFIX}{uuid.uuid4().hex[:8]}"
    path.mkdir(mode=0o755)
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def api(tmp_path: Path, pool_dir: Path, qemu_hv: Hypervisor) -> Iterator[TestClient]:
    settings = Settings(
        libvirt_uri="qemu:///system",
        state_dir=pool_dir / "state",
        pool_dir=pool_dir,
        default_pool=f"{PREFIX}pool-{pool_dir.name[-8:]}",
    )
    node = Node(settings)
    ident = Identity(
        vrm_url="http://127.0.0.1:9",
        host_id=uuid.uuid4(),
        cluster_id=uuid.uuid4(),
        host_credential="cnah_x",
        vrm_credential_sha256=hash_credential(CREDENTIAL),
    )
    with TestClient(create_app(node, lambda: ident), raise_server_exceptions=False) as client:
        client.headers["Authorization"] = f"Bearer {CREDENTIAL}"
        yield client
    node.close()


def ok(response: object, status: int = 200) -> dict[str, object]:
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    body: dict[str, object] = response.json() if response.content else {}  # type: ignore[attr-defined]
    return body


def wait_op(api: TestClient, op: dict[str, object]) -> dict[str, object]:
    deadline = time.monotonic() + 60
    while op["state"] == "running" and time.monotonic() < deadline:
        time.sleep(0.1)
        op = ok(api.get(f"/v1/operations/{op['id']}"))
    return op


def live_xml(vm: str) -> ET.Element:
    conn = libvirt.open("qemu:///system")
    try:
        return ET.fromstring(conn.lookupByUUIDString(vm).XMLDesc(0))
    finally:
        conn.close()


def ovs_tag(port: str) -> str:
    return subprocess.run(
        ["ovs-vsctl", "get", "port", port, "tag"], capture_output=True, text=True, check=True
    ).stdout.strip()


def test_guest_life_on_real_libvirt(api: TestClient, pool_dir: Path) -> None:
    pool = f"{PREFIX}pool-{pool_dir.name[-8:]}"
    ok(api.put(f"/v1/pools/{pool}", json={"name": pool, "path": str(pool_dir)}))
    for name, size in (("root", 64), ("data", 32)):
        ok(api.put(f"/v1/pools/{pool}/volumes/{name}", json={"name": name, "capacity_mib": size}))
    assert (
        ok(api.post(f"/v1/pools/{pool}/volumes/data/resize", json={"capacity_mib": 48}))[
            "capacity_mib"
        ]
        == 48
    )
    linked = ok(
        api.put(
            f"/v1/pools/{pool}/volumes/linked",
            json={"name": "linked", "capacity_mib": 64, "backing_volume": "root"},
        )
    )
    info = json.loads(
        subprocess.run(
            ["qemu-img", "info", "--output=json", str(linked["path"])],
            capture_output=True,
            check=True,
            text=True,
        ).stdout
    )
    assert info["backing-filename"] == str(pool_dir / "root")
    copy = wait_op(
        api, ok(api.post(f"/v1/pools/{pool}/volumes/root/clone", json={"name": "copy"}), 202)
    )
    assert copy["state"] == "succeeded", copy

    dvs, bridge = f"{PREFIX}dvs", f"ovt{uuid.uuid4().hex[:8]}"
    groups = [{"name": "v0", "vlan_id": 0}, {"name": "v100", "vlan_id": 100}]
    ok(api.put(f"/v1/networks/{dvs}", json={"name": dvs, "bridge": bridge, "port_groups": groups}))

    vm = str(uuid.uuid4())
    spec = {
        "uuid": vm,
        "name": f"{PREFIX}vm",
        "vcpus": 1,
        "max_vcpus": 2,
        "memory_mib": 96,
        "max_memory_mib": 128,
        "console": {},
        "disks": [{"device": "vda", "pool": pool, "volume": "root"}],
        "nics": [{"mac": "52:54:00:00:00:01", "network": dvs, "portgroup": "v0"}],
    }
    assert ok(api.put(f"/v1/vms/{vm}", json=spec))["state"] == "shutoff"
    assert ok(api.post(f"/v1/vms/{vm}/start"))["state"] == "running"
    assert ok(api.post(f"/v1/vms/{vm}/pause"))["state"] == "paused"
    assert ok(api.post(f"/v1/vms/{vm}/resume"))["state"] == "running"
    assert ok(api.put(f"/v1/vms/{vm}/vcpus", json={"vcpus": 2}))["vcpus"] == 2
    assert error_of(api.put(f"/v1/vms/{vm}/vcpus", json={"vcpus": 3}), 422)

    disk = {"device": "vdb", "pool": pool, "volume": "data"}
    ok(api.post(f"/v1/vms/{vm}/disks", json=disk))
    targets = [t.get("dev") for t in live_xml(vm).findall("devices/disk/target")]
    assert targets == ["vda", "vdb"]

    nic = {"mac": "52:54:00:00:01:00", "network": dvs, "portgroup": "v100"}
    ok(api.post(f"/v1/vms/{vm}/nics", json=nic))
    ports = {
        i.find("mac").get("address"): i.find("target").get("dev")  # type: ignore[union-attr]
        for i in live_xml(vm).findall("devices/interface")
    }
    assert ovs_tag(ports["52:54:00:00:01:00"]) == "100"
    assert ovs_tag(ports["52:54:00:00:00:01"]) == "[]", "port group v0 is untagged"

    console = ok(api.get(f"/v1/vms/{vm}/console"))
    assert str(console["vnc_socket"]).endswith("/vnc.sock")
    assert (console["serial"], console["viewers"]) == (True, 0)

    stop = ok(api.post(f"/v1/vms/{vm}/stop", json={"force": True, "timeout_s": 1}), 202)
    assert wait_op(api, stop)["state"] == "succeeded"
    assert ok(api.get(f"/v1/vms/{vm}"))["state"] == "shutoff"
    # Its root volume backs a linked clone: refused, and nothing is touched.
    refused = api.delete(f"/v1/vms/{vm}", params={"delete_volumes": "true"})
    assert error_of(refused, 409)["code"] == "volume_in_use"
    assert ok(api.get(f"/v1/vms/{vm}"))["state"] == "shutoff"
    ok(api.delete(f"/v1/pools/{pool}/volumes/linked"), 204)
    ok(api.delete(f"/v1/vms/{vm}", params={"delete_volumes": "true"}), 204)
    assert api.get(f"/v1/vms/{vm}").status_code == 404
    left = sorted(str(v["name"]) for v in api.get(f"/v1/pools/{pool}/volumes").json())
    assert left == ["copy"], "the VM's own volumes went with it"

    ok(api.delete(f"/v1/networks/{dvs}"), 204)
    ok(api.delete(f"/v1/pools/{pool}/volumes/copy"), 204)
    ok(api.delete(f"/v1/pools/{pool}"), 204)
    assert api.get(f"/v1/pools/{pool}").status_code == 404


def ip_link(name: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", "-o", "link", "show", "dev", name], capture_output=True, text=True)


def test_filtered_nics_and_seed_on_real_libvirt(api: TestClient, pool_dir: Path) -> None:
    """A NIC with addresses: Linux bridge + veth into OVS with its VLAN, clean-traffic
    bound to its IPs in libvirt; a cloud-init seed CD-ROM; all gone with the domain."""
    pool = f"{PREFIX}pool-{pool_dir.name[-8:]}"
    ok(api.put(f"/v1/pools/{pool}", json={"name": pool, "path": str(pool_dir)}))
    ok(api.put(f"/v1/pools/{pool}/volumes/root", json={"name": "root", "capacity_mib": 64}))
    dvs, bridge = f"{PREFIX}dvs", f"ovt{uuid.uuid4().hex[:8]}"
    groups = [{"name": "v100", "vlan_id": 100}, {"name": "v200", "vlan_id": 200}]
    ok(api.put(f"/v1/networks/{dvs}", json={"name": dvs, "bridge": bridge, "port_groups": groups}))

    first, second = f"{TEST_MAC_PREFIX}:00:00:01", f"{TEST_MAC_PREFIX}:00:00:02"
    vm = str(uuid.uuid4())
    seed = {"meta_data": json.dumps({"instance-id": vm}), "user_data": "#cloud-config\n{}\n"}
    spec = {
        "uuid": vm,
        "name": f"{PREFIX}filtered",
        "vcpus": 1,
        "max_vcpus": 1,
        "memory_mib": 96,
        "max_memory_mib": 96,
        "disks": [{"device": "vda", "pool": pool, "volume": "root"}],
        "nics": [
            {"mac": first, "network": dvs, "portgroup": "v100", "ips": ["10.0.0.5"]},
            {
                "mac": second,
                "network": dvs,
                "portgroup": "v200",
                "ips": ["10.2.0.5", "2001:db8::5"],
            },
        ],
        "seed": seed,
    }
    report = ok(api.put(f"/v1/vms/{vm}", json=spec))
    assert [n["ips"] for n in report["nics"]] == [["10.0.0.5"], ["10.2.0.5", "2001:db8::5"]]  # type: ignore[index]
    assert ok(api.post(f"/v1/vms/{vm}/start"))["state"] == "running"

    for mac, tag in ((first, "100"), (second, "200")):
        names = PlugNames.of(mac)
        assert ovs_tag(names.ovs_port) == tag
        assert f"master {names.bridge}" in ip_link(names.veth).stdout
    interfaces = live_xml(vm).findall("devices/interface")
    refs = [
        (i.find("filterref").get("filter"), [p.get("value") for p in i.iter("parameter")])  # type: ignore[union-attr]
        for i in interfaces
    ]
    assert refs == [
        ("clean-traffic", ["10.0.0.5"]),
        ("openvrm-clean-traffic", ["10.2.0.5", "2001:db8::5"]),
    ]
    bindings = subprocess.run(
        ["virsh", "-c", "qemu:///system", "nwfilter-binding-list"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    taps = [i.find("target").get("dev") for i in interfaces]  # type: ignore[union-attr]
    for tap in taps:
        assert any(line.split()[:1] == [tap] for line in bindings.splitlines()), bindings
    cdrom = live_xml(vm).find("devices/disk[@device='cdrom']/source")
    assert cdrom is not None
    files = read_seed(Path(cdrom.get("file", "")).read_bytes())
    assert files["meta-data"] == seed["meta_data"]

    # The plumbing does not survive a node reboot: starting, or reverting to a running
    # snapshot, makes it again.
    ok(api.post(f"/v1/vms/{vm}/snapshots", json={"name": "s1"}), 201)
    stop = ok(api.post(f"/v1/vms/{vm}/stop", json={"force": True, "timeout_s": 1}), 202)
    assert wait_op(api, stop)["state"] == "succeeded"
    for reboot in ("start", "revert"):
        for mac in (first, second):
            subprocess.run(["ip", "link", "del", PlugNames.of(mac).bridge], check=True)
            subprocess.run(["ip", "link", "del", PlugNames.of(mac).veth], check=True)
        if reboot == "start":
            assert ok(api.post(f"/v1/vms/{vm}/start"))["state"] == "running"
        else:
            assert ok(api.post(f"/v1/vms/{vm}/snapshots/s1/revert"))["state"] == "running"
        for mac, tag in ((first, "100"), (second, "200")):
            assert ovs_tag(PlugNames.of(mac).ovs_port) == tag
            assert f"master {PlugNames.of(mac).bridge}" in ip_link(PlugNames.of(mac).veth).stdout
        stop = ok(api.post(f"/v1/vms/{vm}/stop", json={"force": True, "timeout_s": 1}), 202)
        assert wait_op(api, stop)["state"] == "succeeded"
    ok(api.delete(f"/v1/vms/{vm}/snapshots/s1"), 204)

    # Detach the second NIC (the guest has no OS to acknowledge a hot-unplug: it is
    # stopped), then delete the domain: no plumbing, no seed.
    ok(api.delete(f"/v1/vms/{vm}/nics/{second}"))
    assert ip_link(PlugNames.of(second).bridge).returncode != 0
    assert ip_link(PlugNames.of(first).bridge).returncode == 0
    # What a domain had here is only removed for VRM once the domain has left.
    refused = api.post(f"/v1/vms/{vm}/unplumb", json={"macs": [first]})
    assert error_of(refused)["code"] == "domain_present"
    assert ip_link(PlugNames.of(first).bridge).returncode == 0
    ok(api.delete(f"/v1/vms/{vm}", params={"delete_volumes": "true"}), 204)
    assert ip_link(PlugNames.of(first).bridge).returncode != 0
    assert ip_link(PlugNames.of(first).veth).returncode != 0
    assert not Path(cdrom.get("file", "")).exists()

    # A source whose agent lost track of a migration that completed: VRM names the
    # MACs, and the plumbing and seed the domain had go (here made again as a target
    # readies them, which is the same plumbing).
    ready = ok(api.put(f"/v1/vms/{vm}/incoming", json={**spec, "disks": []}))
    assert ip_link(PlugNames.of(first).bridge).returncode == 0
    assert Path(str(ready["seed_path"])).exists()
    for _ in range(2):
        ok(api.post(f"/v1/vms/{vm}/unplumb", json={"macs": [first, second]}), 204)
    for mac in (first, second):
        assert ip_link(PlugNames.of(mac).bridge).returncode != 0
        assert ip_link(PlugNames.of(mac).veth).returncode != 0
    assert not Path(str(ready["seed_path"])).exists()
    ok(api.delete(f"/v1/vms/{vm}/incoming"), 204)
    ok(api.delete(f"/v1/networks/{dvs}"), 204)
