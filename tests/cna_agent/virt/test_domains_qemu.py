"""Domains on the real qemu:///system with TCG guests that have no OS (SeaBIOS only).

Such a guest runs, pauses, hot-adds vCPUs, disks and NICs, but ignores ACPI and
cannot hot-unplug vCPUs; the tests rely on exactly that.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from uuid import UUID, uuid4

import libvirt
import libvirt_qemu  # type: ignore[import-untyped]
import pytest

from cna_agent.errors import (
    AlreadyExists,
    InvalidSpec,
    NotFound,
    OperationTimeout,
    Unsupported,
)
from cna_agent.protocol import (
    ConsoleSpec,
    DiskSpec,
    DomainSpec,
    DomainState,
    DomainStats,
    SnapshotSpec,
)
from cna_agent.virt.connection import Hypervisor
from cna_agent.virt.domains import Domains
from cna_agent.virt.domxml import cpu_quota_us
from cna_agent.virt.facts import host_facts, pci_devices
from cna_agent.virt.stats import domain_stats
from tests.cna_agent.virt.domain_factories import disk, domain_spec, nic

LIVE = libvirt.VIR_DOMAIN_AFFECT_LIVE
INACTIVE = libvirt.VIR_DOMAIN_XML_INACTIVE


@pytest.fixture
def image_dir() -> Iterator[Path]:
    """A directory QEMU (running as another user) can reach: pytest's tmp dirs are 0700."""
    path = Path(tempfile.mkdtemp(prefix="ovrmtest-", dir="/var/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def network(qemu_hv: Hypervisor) -> str:
    """An isolated libvirt network (no forward, no IP: no dnsmasq); removed by cleanup."""
    root = ET.Element("network")
    ET.SubElement(root, "name").text = name = f"ovrmtest-net-{uuid4().hex[:6]}"
    net = qemu_hv.conn.networkDefineXML(ET.tostring(root, encoding="unicode"))
    net.create()
    return name


class Guest:
    """A TCG guest under test: its spec, its images and the Domains over qemu:///system."""

    def __init__(self, hv: Hypervisor, image_dir: Path) -> None:
        self.hv = hv
        self.image_dir = image_dir
        self.domains = Domains(hv, poll_s=0.05)
        facts = host_facts(hv, domain_type_setting="auto", agent_version="test")
        self.domain_type, self.host_mhz = facts.domain_type, facts.cpu_mhz

    def image(self, disk: DiskSpec) -> str:
        path = self.image_dir / f"{disk.volume}.qcow2"
        if not path.exists():
            subprocess.run(
                ["qemu-img", "create", "-q", "-f", "qcow2", str(path), "64M"], check=True
            )
        return str(path)

    def define(self, spec: DomainSpec) -> UUID:
        self.domains.define(
            spec,
            domain_type=self.domain_type,
            resolve_disk=self.image,
            host_mhz=self.host_mhz,
        )
        return spec.uuid

    def xml(self, uuid: UUID, flags: int = 0) -> ET.Element:
        return ET.fromstring(self.hv.conn.lookupByUUIDString(str(uuid)).XMLDesc(flags))

    def state(self, uuid: UUID) -> DomainState:
        return self.domains.get(uuid).state


@pytest.fixture
def guest(qemu_hv: Hypervisor, image_dir: Path) -> Guest:
    return Guest(qemu_hv, image_dir)


def disk_stats_match_libvirt(guest: Guest, uuid: UUID) -> DomainStats:
    """Our block counters, once SeaBIOS has read the disk looking for a boot sector (or,
    on a machine too loaded for it to get there, after a while): between two samples of
    ours, libvirt's own counter of the disk lies (the counters only grow)."""
    deadline = time.monotonic() + 30
    dom = guest.hv.conn.lookupByUUIDString(str(uuid))
    while True:
        [before] = [s for s in domain_stats(guest.hv) if s.uuid == uuid]
        libvirt_reads = dom.blockStats("vda")[1]
        [after] = [s for s in domain_stats(guest.hv) if s.uuid == uuid]
        if after.block_rd_bytes > 0 or time.monotonic() > deadline:
            assert before.block_rd_bytes <= libvirt_reads <= after.block_rd_bytes
            return after
        time.sleep(0.1)


def test_domain_type_is_tcg(guest: Guest) -> None:
    assert guest.domain_type == "qemu"


def test_lifecycle(guest: Guest) -> None:
    spec = domain_spec(console=ConsoleSpec())
    uuid = guest.define(spec)
    assert guest.define(spec) == uuid  # defining again changes nothing
    domains = guest.domains
    for _ in range(2):
        domains.start(uuid)
    assert guest.state(uuid) == DomainState.RUNNING
    console = domains.console(uuid)
    assert console.vnc_socket is not None
    assert console.vnc_socket.startswith("/var/lib/libvirt/qemu/domain-")
    assert console.vnc_socket.endswith("/vnc.sock")
    assert console.serial
    assert domains.get(uuid).console == console
    graphics = guest.xml(uuid).find("devices/graphics")
    assert graphics is not None
    assert graphics.find("listen[@type='address']") is None  # never a network address
    assert graphics.get("port") is None

    for _ in range(2):
        domains.suspend(uuid)
    assert guest.state(uuid) == DomainState.PAUSED
    for _ in range(2):
        domains.resume(uuid)
    assert guest.state(uuid) == DomainState.RUNNING
    domains.reboot(uuid)
    domains.reset(uuid)
    assert guest.state(uuid) == DomainState.RUNNING

    stats = disk_stats_match_libvirt(guest, uuid)
    assert stats.cpu_time_ns > 0
    assert stats.memory_actual_mib == 128  # no balloon driver without an OS
    assert stats.memory_rss_mib > 0

    # No OS: ACPI is ignored, so only force stops it.
    with pytest.raises(OperationTimeout):
        domains.shutdown(uuid, timeout_s=0.3)
    assert guest.state(uuid) == DomainState.RUNNING
    for _ in range(2):
        domains.shutdown(uuid, timeout_s=0.3, force=True)
    assert guest.state(uuid) == DomainState.SHUTOFF

    assert [d.volume for d in domains.undefine(uuid)] == [spec.disks[0].volume]
    assert domains.undefine(uuid) == []
    with pytest.raises(NotFound) as exc:
        domains.get(uuid)
    assert exc.value.code == "domain_not_found"


def test_hotplug_while_running(guest: Guest, network: str) -> None:
    spec = domain_spec(cpu_limit_mhz=guest.host_mhz // 2)
    uuid = guest.define(spec)
    domains = guest.domains
    domains.start(uuid)
    dom = guest.hv.conn.lookupByUUIDString(str(uuid))

    for _ in range(2):
        domains.set_vcpus(uuid, 2)
    assert dom.vcpusFlags(LIVE) == 2
    assert domains.get(uuid).vcpus == 2
    quota = str(cpu_quota_us(spec.cpu_limit_mhz, guest.host_mhz, 2))
    assert guest.xml(uuid).findtext("cputune/quota") == quota
    assert guest.xml(uuid, INACTIVE).findtext("cputune/quota") == quota
    with pytest.raises(Unsupported, match="hot-unplug") as exc:
        domains.set_vcpus(uuid, 1)
    assert exc.value.code == "vcpu_unplug_unsupported"
    with pytest.raises(InvalidSpec):
        domains.set_vcpus(uuid, 3)
    assert dom.vcpusFlags(LIVE) == 2

    domains.set_memory(uuid, 96)
    assert guest.xml(uuid, INACTIVE).findtext("currentMemory") == str(96 * 1024)

    data = disk("vdb", volume="ovrmtest-data")
    extra = nic("52:54:00:aa:00:09", network=network)
    for _ in range(2):
        domains.attach_disk(uuid, data, guest.image(data))
        domains.attach_nic(uuid, extra)
    live = guest.xml(uuid)
    assert len(live.findall("devices/disk/target[@dev='vdb']")) == 1
    assert len(live.findall("devices/interface/mac[@address='52:54:00:aa:00:09']")) == 1
    report = domains.get(uuid)
    assert data in report.disks
    assert extra in report.nics

    for _ in range(2):
        domains.snapshot_create(uuid, SnapshotSpec(name="s1"))
    assert [(s.name, s.state) for s in domains.snapshots(uuid)] == [("s1", DomainState.RUNNING)]
    domains.snapshot_delete(uuid, "s1")
    assert domains.snapshots(uuid) == []
    domains.destroy(uuid)


def test_devices_of_a_stopped_domain(guest: Guest, network: str) -> None:
    # 1.5 host CPUs: no limit for one vCPU, a quota for two.
    limit = guest.host_mhz * 3 // 2
    uuid = guest.define(domain_spec(nics=[nic(network=network)], cpu_limit_mhz=limit))
    domains = guest.domains
    data = disk("vdb", volume="ovrmtest-data")
    domains.attach_disk(uuid, data, guest.image(data))
    assert [d.device for d in domains.get(uuid).disks] == ["vda", "vdb"]
    for _ in range(2):
        domains.detach_disk(uuid, "vdb")
        domains.detach_nic(uuid, "52:54:00:AA:00:01")
    report = domains.get(uuid)
    assert ([d.device for d in report.disks], report.nics) == (["vda"], [])

    address = pci_devices(guest.hv)[0].address
    for _ in range(2):
        domains.attach_hostdev(uuid, address)
    assert len(guest.xml(uuid).findall("devices/hostdev")) == 1
    for _ in range(2):
        domains.detach_hostdev(uuid, address)
    assert guest.xml(uuid).find("devices/hostdev") is None

    assert guest.xml(uuid).find("cputune/quota") is None
    domains.set_vcpus(uuid, 2)
    quota = cpu_quota_us(limit, guest.host_mhz, 2)
    assert guest.xml(uuid).findtext("cputune/quota") == str(quota)
    domains.set_vcpus(uuid, 1)  # a stopped domain may lose vCPUs
    assert domains.get(uuid).vcpus == 1
    assert guest.xml(uuid).findtext("cputune/quota") == "-1"  # unlimited again


def test_errors(guest: Guest) -> None:
    with pytest.raises(NotFound) as exc:
        guest.domains.start(uuid4())
    assert exc.value.code == "domain_not_found"
    spec = domain_spec()
    guest.define(spec)
    with pytest.raises(AlreadyExists):
        guest.define(domain_spec(name=spec.name))


def test_cdrom_media_on_a_running_domain(guest: Guest) -> None:
    cdrom = DiskSpec(device="hdc", bus="ide", kind="cdrom", format="raw", readonly=True)
    spec = domain_spec(disks=[disk(boot_order=2), cdrom.model_copy(update={"boot_order": 1})])
    uuid = guest.define(spec)
    guest.domains.start(uuid)
    iso = guest.image_dir / "ovrmtest-iso.iso"
    iso.write_bytes(b"\0" * 2**20)
    identity = ("ovrmtest-pool", "ovrmtest-iso")
    for _ in range(2):
        guest.domains.change_media(uuid, "hdc", str(iso), volume=identity)
    for flags in (0, INACTIVE):
        assert cdrom_source(guest, uuid, flags) == str(iso)
    assert "ovrmtest-iso.iso" in qemu_block_info(guest, uuid)  # QEMU itself holds it
    [_, inserted] = guest.domains.get(uuid).disks
    assert (inserted.pool, inserted.volume, inserted.boot_order) == (*identity, 1)

    for _ in range(2):
        guest.domains.change_media(uuid, "hdc", None)
    for flags in (0, INACTIVE):
        assert cdrom_source(guest, uuid, flags) is None
        assert (
            guest.xml(uuid, flags).find("devices/disk[@device='cdrom']/boot[@order='1']")
            is not None
        )
    assert "ovrmtest-iso.iso" not in qemu_block_info(guest, uuid)
    [_, ejected] = guest.domains.get(uuid).disks
    assert ejected == cdrom.model_copy(update={"boot_order": 1})
    guest.domains.destroy(uuid)


def test_cdrom_media_of_a_stopped_domain(guest: Guest) -> None:
    cdrom = DiskSpec(device="hdc", bus="ide", kind="cdrom", format="raw", readonly=True)
    uuid = guest.define(domain_spec(disks=[cdrom]))
    iso = guest.image_dir / "ovrmtest-iso.iso"
    iso.write_bytes(b"\0" * 2**20)
    guest.domains.change_media(uuid, "hdc", str(iso), volume=("ovrmtest-pool", "ovrmtest-iso"))
    assert cdrom_source(guest, uuid, INACTIVE) == str(iso)
    guest.domains.start(uuid)  # the persistent change is what it boots with
    assert cdrom_source(guest, uuid, 0) == str(iso)
    guest.domains.destroy(uuid)


def cdrom_source(guest: Guest, uuid: UUID, flags: int) -> str | None:
    source = guest.xml(uuid, flags).find("devices/disk[@device='cdrom']/source")
    return None if source is None else source.get("file")


def qemu_block_info(guest: Guest, uuid: UUID) -> str:
    dom = guest.hv.conn.lookupByUUIDString(str(uuid))
    return str(libvirt_qemu.qemuMonitorCommand(dom, "info block", 1))


def test_a_named_cpu_model_is_what_the_guest_runs(guest: Guest) -> None:
    uuid = guest.define(domain_spec(cpu_model="Westmere"))
    guest.domains.start(uuid)
    try:
        model = guest.xml(uuid).find("cpu/model")
        assert model is not None
        assert model.text == "Westmere"
        # QEMU's first vCPU is that model.
        assert "Westmere" in cpu_model_id(guest, uuid)
    finally:
        guest.domains.shutdown(uuid, timeout_s=0.3, force=True)
        guest.domains.undefine(uuid)


def cpu_model_id(guest: Guest, uuid: UUID) -> str:
    """The model name QEMU gives the guest's first vCPU (asked over QMP)."""
    dom = guest.hv.conn.lookupByUUIDString(str(uuid))

    def qmp(command: str, **arguments: object) -> object:
        asked = {"execute": command, "arguments": arguments} if arguments else {"execute": command}
        return json.loads(libvirt_qemu.qemuMonitorCommand(dom, json.dumps(asked), 0))["return"]

    cpus = qmp("query-cpus-fast")
    assert isinstance(cpus, list)
    return str(qmp("qom-get", path=cpus[0]["qom-path"], property="model-id"))
