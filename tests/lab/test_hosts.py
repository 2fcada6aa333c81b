"""The lab bed: two hosts with their own libvirtd and OVS, networked, migrating a guest."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import httpx
import libvirt
import pytest

from tests.e2e.processes import wait_until
from tests.lab import guests
from tests.lab.hosts import ROOT_ADDRESS, Host, LabError, lab_hosts

LIVE_MIGRATION = (
    libvirt.VIR_MIGRATE_LIVE
    | libvirt.VIR_MIGRATE_PEER2PEER
    | libvirt.VIR_MIGRATE_PERSIST_DEST
    | libvirt.VIR_MIGRATE_UNDEFINE_SOURCE
)
# The shared folder is a plain directory: libvirt cannot tell it is shared.
SHARED_FOLDER = libvirt.VIR_MIGRATE_UNSAFE


@pytest.fixture(scope="module")
def hosts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Host]]:
    """A bed of two hosts for the whole module."""
    with lab_hosts(2, tmp_path_factory.mktemp("lab")) as bed:
        yield bed


@pytest.fixture(scope="module")
def conns(hosts: list[Host]) -> Iterator[list[libvirt.virConnect]]:
    """A connection from the root namespace to each host's libvirtd."""
    opened = [libvirt.open(host.libvirt_uri) for host in hosts]
    yield opened
    for conn in opened:
        conn.close()


def test_each_libvirtd_has_its_own_host_uuid(
    hosts: list[Host], conns: list[libvirt.virConnect]
) -> None:
    seen = [ET.fromstring(c.getCapabilities()).findtext("host/uuid") for c in conns]

    assert seen == [h.host_uuid for h in hosts]
    assert len(set(seen)) == 2


def test_hosts_have_their_own_hostname_and_libvirt_state(hosts: list[Host]) -> None:
    for host in hosts:
        assert host.run(["hostname"]).stdout.strip() == host.name
        assert host.path("/etc/libvirt/qemu.conf").read_text().count(host.address) == 2
    # The main daemon's domains stay invisible inside a host.
    assert (
        hosts[0].run(["virsh", "-c", "qemu:///system", "list", "--all", "--name"]).stdout.split()
        == []
    )


def test_hosts_and_root_ping_each_other(hosts: list[Host]) -> None:
    first, second = hosts

    assert first.ping(second.address)
    assert second.ping(first.address)
    assert first.ping(ROOT_ADDRESS)


def test_host_reaches_a_server_on_the_root_address(hosts: list[Host]) -> None:
    with socket.create_server((ROOT_ADDRESS, 0)) as server:
        port = server.getsockname()[1]
        answering = threading.Thread(target=_answer_once, args=(server,), daemon=True)
        answering.start()
        code = f"import socket; print(socket.create_connection(('{ROOT_ADDRESS}', {port})).recv(3))"

        assert hosts[0].run([sys.executable, "-c", code]).stdout.strip() == "b'vrm'"
        answering.join(timeout=10)


def test_root_reaches_a_server_started_in_a_host(hosts: list[Host], tmp_path: Path) -> None:
    (tmp_path / "hello").write_text("from h2")
    args = [sys.executable, "-m", "http.server", "--bind", hosts[1].address, "18080"]
    server = hosts[1].popen(
        args, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        url = f"http://{hosts[1].address}:18080/hello"
        assert wait_until(lambda: httpx.get(url).text, timeout_s=20, what="the server") == "from h2"
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_each_host_has_its_own_open_vswitch(hosts: list[Host]) -> None:
    first, second = hosts
    first.run(
        [
            "ovs-vsctl",
            "add-br",
            "ovrmlabown",
            "--",
            "set",
            "bridge",
            "ovrmlabown",
            "datapath_type=netdev",
        ]
    )
    try:
        assert "ovrmlabown" in first.run(["ovs-vsctl", "list-br"]).stdout.split()
        assert "ovrmlabown" not in second.run(["ovs-vsctl", "list-br"]).stdout.split()
    finally:
        first.run(["ovs-vsctl", "--if-exists", "del-br", "ovrmlabown"])


def test_guest_nic_gets_its_port_group_vlan_on_the_hosts_ovs(
    hosts: list[Host], conns: list[libvirt.virConnect]
) -> None:
    host, conn = hosts[0], conns[0]
    _ovs_bridge(host, "ovrmlabdvs")
    net = conn.networkCreateXML(_ovs_network("ovrmlabdvs", vlan=100))
    try:
        dom = guests.start(conn, guests.domain_xml("ovrmlab-nic", network=("ovrmlabdvs", "v100")))
        port = _tap(dom)

        assert host.run(["ovs-vsctl", "get", "port", port, "tag"]).stdout.strip() == "100"
        assert port in host.run(["ovs-vsctl", "list-ports", "ovrmlabdvs"]).stdout.split()
    finally:
        guests.remove(conn, "ovrmlab-nic")
        net.destroy()
        host.run(["ovs-vsctl", "--if-exists", "del-br", "ovrmlabdvs"])


def test_vlans_cross_between_hosts_on_the_data_uplink(hosts: list[Host]) -> None:
    first, second = hosts
    for host in hosts:
        _ovs_bridge(host, "ovrmlabvl", uplink=True)
    _tagged_port(first, "ovrmlabp", 100, "192.168.77.1/24")
    _tagged_port(second, "ovrmlabp", 200, "192.168.77.2/24")
    try:
        assert not first.ping("192.168.77.2")  # VLAN 100 does not reach VLAN 200
        second.run(["ovs-vsctl", "set", "port", "ovrmlabp", "tag=100"])

        assert wait_until(lambda: first.ping("192.168.77.2"), timeout_s=20, what="VLAN 100")
    finally:
        for host in hosts:
            host.run(["ovs-vsctl", "--if-exists", "del-br", "ovrmlabvl"])


def test_nwfilter_rules_go_to_the_hosts_ebtables(
    hosts: list[Host], conns: list[libvirt.virConnect]
) -> None:
    host, conn = hosts[0], conns[0]
    host.run(["sh", "-c", "ip link add ovrmlabbr type bridge && ip link set ovrmlabbr up"])
    xml = guests.domain_xml("ovrmlab-filtered", bridge="ovrmlabbr", filter_ip="10.9.9.9")
    try:
        dom = guests.start(conn, xml)
        port = _tap(dom)

        rules = host.run(["ebtables", "-t", "nat", "-L"]).stdout
        assert f"-i {port} -j libvirt-I-{port}" in rules
        assert "--arp-ip-src 10.9.9.9" in rules
    finally:
        guests.remove(conn, "ovrmlab-filtered")
        host.run(["ip", "link", "delete", "ovrmlabbr"], check=False)


def test_a_guest_live_migrates_from_host_1_to_host_2(
    hosts: list[Host], conns: list[libvirt.virConnect]
) -> None:
    first, second = hosts
    disk = guests.make_disk(first.shared_dir / "migrating.qcow2")
    dom = guests.start(conns[0], guests.domain_xml("ovrmlab-mover", memory_mib=128, disk=disk))
    try:
        params = {libvirt.VIR_MIGRATE_PARAM_URI: second.migration_uri}
        dom.migrateToURI3(second.libvirt_uri, params, LIVE_MIGRATION | SHARED_FOLDER)

        moved = conns[1].lookupByName("ovrmlab-mover")
        assert moved.state(0)[0] == libvirt.VIR_DOMAIN_RUNNING
        assert moved.isPersistent()
        assert "ovrmlab-mover" not in guests.names(conns[0])
    finally:
        for conn in conns:
            guests.remove(conn, "ovrmlab-mover")


def test_a_second_bed_is_refused_while_one_runs(hosts: list[Host], tmp_path: Path) -> None:
    with pytest.raises(LabError, match="another lab bed is running"), lab_hosts(1, tmp_path):
        pass


def _tap(dom: libvirt.virDomain) -> str:
    """The tap device of a running domain's first NIC."""
    target = ET.fromstring(dom.XMLDesc(0)).find("devices/interface/target")
    assert target is not None
    return target.get("dev", "")


def _answer_once(server: socket.socket) -> None:
    conn, _ = server.accept()
    with conn:
        conn.sendall(b"vrm")


def _ovs_bridge(host: Host, name: str, *, uplink: bool = False) -> None:
    args = ["ovs-vsctl", "add-br", name, "--", "set", "bridge", name, "datapath_type=netdev"]
    if uplink:
        args += ["--", "add-port", name, host.uplink]
    host.run(args)


def _tagged_port(host: Host, name: str, tag: int, cidr: str) -> None:
    """An OVS internal port of VLAN ``tag`` with an address, in the host's namespace."""
    host.run(
        ["ovs-vsctl", "add-port", "ovrmlabvl", name, f"tag={tag}", "--"]
        + ["set", "interface", name, "type=internal"]
    )
    host.run(["ip", "addr", "add", cidr, "dev", name])
    host.run(["ip", "link", "set", name, "up"])


def _ovs_network(bridge: str, *, vlan: int) -> str:
    return (
        f"<network><name>{bridge}</name><forward mode='bridge'/><bridge name='{bridge}'/>"
        "<virtualport type='openvswitch'/>"
        f"<portgroup name='v{vlan}'><vlan><tag id='{vlan}'/></vlan></portgroup></network>"
    )
