"""Domain XML: spec -> XML -> report round trips and the XML libvirt gets."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import pytest

from cna_agent.protocol import (
    SEED_DEVICE,
    BootDevice,
    ConsoleInfo,
    ConsoleSpec,
    DirectBoot,
    DomainSpec,
    DomainState,
    PciAddress,
    SeedSpec,
)
from cna_agent.virt.devxml import NS, Metadata, disk_target
from cna_agent.virt.domxml import (
    CFS_PERIOD_US,
    build_domain_xml,
    console_info,
    cpu_quota_us,
    parse_domain_xml,
    serial_pty,
)
from tests.cna_agent.virt.domain_factories import (
    HOST_MHZ,
    build_tree,
    disk,
    domain_spec,
    fake_path,
    nic,
    round_trip,
)

EMPTY_CDROM = disk(
    "hdc", bus="ide", kind="cdrom", format="raw", readonly=True, pool=None, volume=None
)
SPECS: dict[str, dict[str, Any]] = {
    "minimal": {"disks": []},
    "virtio": {"nics": [nic()]},
    "emulated models": {
        "disks": [disk("sda", bus="sata"), disk("hda", bus="ide", format="raw")],
        "nics": [nic(model="e1000"), nic("52:54:00:aa:00:02", model="rtl8139")],
    },
    "scsi": {"disks": [disk("sda", bus="scsi"), disk("sdb", bus="scsi", readonly=True)]},
    "cdrom": {"disks": [disk(), disk("hdc", bus="ide", kind="cdrom", format="raw", readonly=True)]},
    "boot order": {
        "disks": [disk(boot_order=2)],
        "nics": [nic(boot_order=1, portgroup="ovrmtest-pg")],
    },
    "big": {"vcpus": 8, "max_vcpus": 16, "memory_mib": 4096, "max_memory_mib": 8192},
    "hostdev": {"hostdevs": [PciAddress(bus=3, slot=0, function=1)]},
    "direct boot": {"direct_boot": DirectBoot(kernel="/boot/vmlinuz", initrd="/boot/initrd")},
    "qos": {"cpu_shares": 4096, "cpu_limit_mhz": 1500, "cpu_reservation_mhz": 500},
    "console": {"console": ConsoleSpec()},
    "empty cdrom": {"disks": [disk(), EMPTY_CDROM]},
    "cdrom first": {
        "disks": [disk(boot_order=2), EMPTY_CDROM.model_copy(update={"boot_order": 1})]
    },
    "filtered nics": {
        "nics": [
            nic(portgroup="ovrmtest-pg", ips=["10.0.0.5"]),
            nic(
                "52:54:00:aa:00:02",
                portgroup="ovrmtest-pg2",
                ips=["10.1.0.5", "2001:db8::5"],
                mtu=9000,
            ),
            nic("52:54:00:aa:00:03"),
        ]
    },
}


@pytest.mark.parametrize("overrides", SPECS.values(), ids=SPECS.keys())
def test_round_trip_reports_what_the_spec_says(overrides: dict[str, Any]) -> None:
    spec = domain_spec(**overrides)
    report = round_trip(spec)
    assert report.uuid == spec.uuid
    assert report.name == spec.name
    assert report.state == DomainState.SHUTOFF
    assert report.persistent
    assert (report.vcpus, report.max_vcpus) == (spec.vcpus, spec.max_vcpus)
    assert (report.memory_mib, report.max_memory_mib) == (spec.memory_mib, spec.max_memory_mib)
    assert report.disks == spec.disks
    assert report.nics == spec.nics
    assert report.console is None  # no socket until it runs


def test_cdrom_is_reported_readonly() -> None:
    cdrom = disk("hdc", bus="ide", kind="cdrom", format="raw")
    root = build_tree(domain_spec(disks=[cdrom]))
    assert root.find("devices/disk[@device='cdrom']/readonly") is not None
    assert round_trip(domain_spec(disks=[cdrom])).disks[0].readonly


def test_vcpus_and_memory_allow_hot_add_and_balloon() -> None:
    root = build_tree(domain_spec(vcpus=2, max_vcpus=4, memory_mib=256, max_memory_mib=512))
    vcpu = root.find("vcpu")
    assert vcpu is not None
    assert (vcpu.get("placement"), vcpu.get("current"), vcpu.text) == ("static", "2", "4")
    assert root.findtext("memory") == str(512 * 1024)
    assert root.findtext("currentMemory") == str(256 * 1024)


def test_a_named_cpu_model_is_the_guests_exactly() -> None:
    assert build_tree(domain_spec()).find("cpu") is None, "libvirt's default guest CPU"
    cpu = build_tree(domain_spec(cpu_model="Westmere")).find("cpu")
    assert cpu is not None
    assert (cpu.get("mode"), cpu.get("match"), cpu.get("check")) == ("custom", "exact", "partial")
    model = cpu.find("model")
    assert model is not None
    assert (model.text, model.get("fallback")) == ("Westmere", "forbid")


def test_features_lifecycle_and_fixed_devices() -> None:
    root = build_tree(domain_spec())
    assert root.find("features/acpi") is not None
    assert root.find("features/apic") is not None
    lifecycle = [root.findtext(t) for t in ("on_poweroff", "on_reboot", "on_crash")]
    assert lifecycle == ["destroy", "restart", "destroy"]
    assert root.find("devices/memballoon[@model='virtio']") is not None
    assert root.find("devices/graphics") is None


def test_every_domain_has_a_serial_port_as_its_console() -> None:
    root = build_tree(domain_spec())
    [serial] = root.findall("devices/serial")
    assert serial.get("type") == "pty"
    assert serial.find("target[@port='0']") is not None
    [console] = root.findall("devices/console")
    assert console.get("type") == "pty"
    target = console.find("target")
    assert target is not None
    assert target.attrib == {"type": "serial", "port": "0"}


def test_an_empty_cdrom_has_no_source() -> None:
    root = build_tree(domain_spec(disks=[EMPTY_CDROM]))
    cdrom = root.find("devices/disk[@device='cdrom']")
    assert cdrom is not None
    assert cdrom.find("source") is None
    assert cdrom.find("target[@dev='hdc'][@bus='ide']") is not None
    assert Metadata.from_domain(root).volumes == {}
    [reported] = round_trip(domain_spec(disks=[EMPTY_CDROM])).disks
    assert reported == EMPTY_CDROM
    assert reported.empty


def test_a_cdrom_boots_first_by_its_own_boot_order() -> None:
    cdrom = disk("hdc", bus="ide", kind="cdrom", format="raw", readonly=True, boot_order=1)
    root = build_tree(domain_spec(disks=[disk(boot_order=2), cdrom], boot=["cdrom", "hd"]))
    # libvirt refuses <os><boot dev> next to per-device boot orders.
    assert root.find("os/boot") is None
    orders = [(disk_target(el), el.find("boot")) for el in root.findall("devices/disk")]
    assert [(dev, None if b is None else b.get("order")) for dev, b in orders] == [
        ("vda", "2"),
        ("hdc", "1"),
    ]


def test_disk_and_nic_elements() -> None:
    spec = domain_spec(nics=[nic(portgroup="ovrmtest-pg", model="e1000")])
    root = build_tree(spec)
    disk_el = root.find("devices/disk")
    assert disk_el is not None
    assert disk_el.get("device") == "disk"
    assert disk_el.find("driver[@type='qcow2']") is not None
    assert disk_el.find("source[@file='" + fake_path(spec.disks[0]) + "']") is not None
    assert disk_el.find("target[@dev='vda'][@bus='virtio']") is not None
    iface = root.find("devices/interface[@type='network']")
    assert iface is not None
    assert iface.find("source[@network='ovrmtest-net'][@portgroup='ovrmtest-pg']") is not None
    assert iface.find("mac[@address='52:54:00:aa:00:01']") is not None
    assert iface.find("model[@type='e1000']") is not None


def test_boot_devices_in_order() -> None:
    spec = domain_spec(boot=[BootDevice.CDROM, BootDevice.HD, BootDevice.NETWORK])
    devs = [b.get("dev") for b in build_tree(spec).iterfind("os/boot")]
    assert devs == ["cdrom", "hd", "network"]


def test_per_device_boot_order_replaces_boot_dev() -> None:
    root = build_tree(domain_spec(disks=[disk(boot_order=1)], nics=[nic(boot_order=2)]))
    assert root.find("os/boot") is None
    assert root.find("devices/disk/boot[@order='1']") is not None
    assert root.find("devices/interface/boot[@order='2']") is not None


def test_direct_boot() -> None:
    boot = DirectBoot(kernel="/k", initrd="/i", cmdline="console=ttyS0")
    root = build_tree(domain_spec(direct_boot=boot, machine="q35"))
    assert root.find("os/type[@machine='q35']") is not None
    assert [root.findtext(f"os/{t}") for t in ("kernel", "initrd", "cmdline")] == [
        "/k",
        "/i",
        "console=ttyS0",
    ]
    assert root.find("os/boot") is None


def test_vnc_listens_on_a_unix_socket_only() -> None:
    root = build_tree(domain_spec(console=ConsoleSpec()))
    [graphics] = root.findall("devices/graphics")
    assert graphics.attrib == {"type": "vnc", "sharePolicy": "allow-exclusive"}
    assert [listen.attrib for listen in graphics] == [{"type": "socket"}]


def test_hostdev_address_in_hex() -> None:
    address = PciAddress(domain=1, bus=0x3A, slot=0x1F, function=7)
    root = build_tree(domain_spec(hostdevs=[address]))
    hostdev = root.find("devices/hostdev[@mode='subsystem'][@type='pci'][@managed='yes']")
    assert hostdev is not None
    source = hostdev.find("source/address")
    assert source is not None
    assert source.attrib == {"domain": "0x0001", "bus": "0x3a", "slot": "0x1f", "function": "0x7"}


def test_scsi_disks_get_a_virtio_scsi_controller() -> None:
    root = build_tree(domain_spec(disks=[disk("sda", bus="scsi")]))
    assert root.find("devices/controller[@type='scsi'][@model='virtio-scsi']") is not None
    assert build_tree(domain_spec()).find("devices/controller") is None


@pytest.mark.parametrize(
    ("limit", "host", "vcpus", "quota"),
    [
        (0, 2000, 1, None),  # unlimited
        (1000, 2000, 1, 50_000),  # half a host CPU
        (1000, 2000, 2, 25_000),  # spread over two vCPUs
        (3000, 2000, 2, 75_000),
        (4000, 2000, 2, None),  # two whole CPUs: nothing to limit
        (1, 3000, 4, 1_000),  # libvirt's minimum
        (1000, 0, 1, None),  # host speed unknown
    ],
)
def test_cpu_quota_formula(limit: int, host: int, vcpus: int, quota: int | None) -> None:
    assert cpu_quota_us(limit, host, vcpus) == quota


def test_cputune_shares_and_quota() -> None:
    root = build_tree(domain_spec(cpu_shares=512, cpu_limit_mhz=1000, vcpus=2, max_vcpus=2))
    assert root.findtext("cputune/shares") == "512"
    assert root.findtext("cputune/period") == str(CFS_PERIOD_US)
    assert root.findtext("cputune/quota") == str(cpu_quota_us(1000, HOST_MHZ, 2))
    unlimited = build_tree(domain_spec())
    assert unlimited.find("cputune/quota") is None
    assert unlimited.find("cputune/period") is None


def test_metadata_keeps_volumes_and_cpu_qos() -> None:
    spec = domain_spec(
        disks=[disk(), disk("vdb", pool="ovrmtest-p2", volume="ovrmtest-data")],
        cpu_limit_mhz=1200,
        cpu_reservation_mhz=300,
    )
    root = build_tree(spec)
    assert root.find(f"metadata/{{{NS}}}vm") is not None
    meta = Metadata.from_domain(root)
    assert meta.volumes == {
        "vda": ("ovrmtest-pool", "ovrmtest-vda"),
        "vdb": ("ovrmtest-p2", "ovrmtest-data"),
    }
    assert (meta.cpu_limit_mhz, meta.cpu_reservation_mhz, meta.host_mhz) == (1200, 300, HOST_MHZ)


def test_xml_escapes_what_it_carries() -> None:
    boot = DirectBoot(kernel="/k", cmdline="a='1' <b> & \"c\"")
    root = build_tree(domain_spec(direct_boot=boot))
    assert root.findtext("os/cmdline") == "a='1' <b> & \"c\""


def test_console_info_of_a_running_domain() -> None:
    # What libvirt writes into the live XML (measured on libvirt 9.0).
    socket = "/var/lib/libvirt/qemu/domain-1-ovrmtest/vnc.sock"
    root = live(build_tree(domain_spec(console=ConsoleSpec())))
    graphics = root.find("devices/graphics")
    assert graphics is not None
    graphics.set("socket", socket)
    report = parse_domain_xml(ET.tostring(root, encoding="unicode"), DomainState.RUNNING, True)
    assert report.console == ConsoleInfo(vnc_socket=socket, serial=True, viewers=0)
    del graphics.attrib["socket"]
    listen = graphics.find("listen")
    assert listen is not None
    listen.set("socket", socket)
    assert console_info(root) == ConsoleInfo(vnc_socket=socket, serial=True)


def test_console_info_without_vnc() -> None:
    root = build_tree(domain_spec())
    assert console_info(root) is None  # not running
    assert console_info(live(root)) == ConsoleInfo(vnc_socket=None, serial=True)
    assert serial_pty(root) == "/dev/pts/3"


def live(root: ET.Element) -> ET.Element:
    """What libvirt adds to a running domain's XML: its id and the serial port's pty."""
    root.set("id", "1")
    serial = root.find("devices/serial")
    assert serial is not None
    serial.insert(0, ET.Element("source", path="/dev/pts/3"))
    return root


def test_foreign_domain_reports_what_it_can() -> None:
    # libvirt's own sample domain: a disk with no pool/volume identity, a NIC.
    xml = """<domain type='test'><name>test</name>
      <uuid>6695eb01-f6a4-8304-79aa-97f2502e193f</uuid>
      <memory unit='KiB'>8388608</memory><currentMemory unit='KiB'>2097152</currentMemory>
      <vcpu placement='static'>2</vcpu><os><type>hvm</type></os>
      <devices>
        <disk type='file' device='disk'><source file='/guest/diskimage1'/>
          <target dev='vda' bus='virtio'/></disk>
        <disk type='volume' device='disk'><driver name='qemu' type='qcow2'/>
          <source pool='pool1' volume='vol1'/><target dev='vdb' bus='virtio'/></disk>
        <interface type='network'><mac address='AA:BB:CC:DD:EE:FF'/>
          <source network='default'/></interface>
        <interface type='user'><mac address='aa:bb:cc:dd:ee:00'/></interface>
      </devices></domain>"""
    report = parse_domain_xml(xml, DomainState.RUNNING, persistent=False)
    assert (report.vcpus, report.max_vcpus) == (2, 2)
    assert (report.memory_mib, report.max_memory_mib) == (2048, 8192)
    assert [(d.device, d.pool, d.volume) for d in report.disks] == [("vdb", "pool1", "vol1")]
    assert [(n.mac, n.network, n.model) for n in report.nics] == [
        ("aa:bb:cc:dd:ee:ff", "default", "virtio")
    ]


def test_spec_validation_still_applies() -> None:
    with pytest.raises(ValueError, match="max_vcpus"):
        DomainSpec.model_validate({**domain_spec().model_dump(), "vcpus": 3})


def test_a_nic_with_addresses_is_bridged_and_filtered() -> None:
    spec = domain_spec(
        nics=[
            nic(portgroup="ovrmtest-pg", ips=["10.0.0.5"]),
            nic("52:54:00:aa:00:02", portgroup="ovrmtest-pg", ips=["10.0.0.6", "2001:db8::6"]),
        ]
    )
    root = build_tree(spec)
    first, second = root.findall("devices/interface")
    assert first.get("type") == "bridge"
    assert first.find("source[@bridge='ovb5400aa0001']") is not None
    ref = first.find("filterref[@filter='clean-traffic']")
    assert ref is not None
    assert [(p.get("name"), p.get("value")) for p in ref] == [("IP", "10.0.0.5")]
    dual = second.find("filterref[@filter='openvrm-clean-traffic']")
    assert dual is not None
    assert [(p.get("name"), p.get("value")) for p in dual] == [
        ("IP", "10.0.0.6"),
        ("IPV6", "2001:db8::6"),
    ]
    meta = Metadata.from_domain(root)
    assert meta.ports == {
        "52:54:00:aa:00:01": ("ovrmtest-net", "ovrmtest-pg"),
        "52:54:00:aa:00:02": ("ovrmtest-net", "ovrmtest-pg"),
    }


def test_a_seed_is_an_ide_cdrom_of_its_own() -> None:
    seed = SeedSpec(meta_data="{}")
    xml = build_domain_xml(
        domain_spec(seed=seed),
        domain_type="test",
        resolve_disk=fake_path,
        host_mhz=HOST_MHZ,
        seed_path="/var/lib/ovrmtest/seed.iso",
    )
    root = ET.fromstring(xml)
    cdrom = root.find(f"devices/disk[@device='cdrom']/target[@dev='{SEED_DEVICE}']/..")
    assert cdrom is not None
    assert cdrom.find("source[@file='/var/lib/ovrmtest/seed.iso']") is not None
    assert cdrom.find("target[@bus='ide']") is not None
    assert cdrom.find("readonly") is not None
    # Not one of the VM's disks in reports.
    report = parse_domain_xml(xml, DomainState.SHUTOFF, persistent=True)
    assert [d.device for d in report.disks] == ["vda"]
    with pytest.raises(ValueError, match="seed"):
        domain_spec(seed=seed, disks=[disk(SEED_DEVICE, bus="ide")])
