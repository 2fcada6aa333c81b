"""Domains on libvirt's test driver: lifecycle, idempotency, resources, snapshots, errors."""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID, uuid4

import pytest

from cna_agent.errors import AlreadyExists, InvalidSpec, NotFound, StateConflict
from cna_agent.protocol import DomainSpec, DomainState, SnapshotSpec
from cna_agent.virt.connection import Hypervisor
from cna_agent.virt.domains import Domains
from tests.cna_agent.virt.domain_factories import HOST_MHZ, disk, domain_spec, fake_path, nic


@pytest.fixture
def domains(test_hv: Hypervisor) -> Domains:
    return Domains(test_hv, poll_s=0.01)


def define(domains: Domains, spec: DomainSpec) -> UUID:
    domains.define(
        spec,
        domain_type="test",
        resolve_disk=fake_path,
        host_mhz=HOST_MHZ,
    )
    return spec.uuid


@pytest.fixture
def running(domains: Domains) -> UUID:
    uuid = define(domains, domain_spec())
    domains.start(uuid)
    return uuid


def state(domains: Domains, uuid: UUID) -> DomainState:
    return domains.get(uuid).state


def test_define_reports_the_spec(domains: Domains) -> None:
    spec = domain_spec(nics=[nic()], disks=[disk(), disk("hdc", bus="ide", kind="cdrom")])
    report = domains.define(spec, domain_type="test", resolve_disk=fake_path, host_mhz=1)
    assert (report.uuid, report.name, report.state) == (spec.uuid, spec.name, DomainState.SHUTOFF)
    assert report.persistent
    assert [d.device for d in report.disks] == ["vda", "hdc"]
    assert report.nics == spec.nics


def test_define_again_updates(domains: Domains) -> None:
    spec = domain_spec()
    define(domains, spec)
    define(domains, spec.model_copy(update={"memory_mib": 96, "max_vcpus": 4}))
    report = domains.get(spec.uuid)
    assert (report.memory_mib, report.max_vcpus) == (96, 4)
    assert [s.uuid for s in domains.statuses()].count(spec.uuid) == 1


def test_define_refuses_a_name_taken_by_another_uuid(domains: Domains) -> None:
    spec = domain_spec()
    define(domains, spec)
    with pytest.raises(AlreadyExists) as exc:
        define(domains, spec.model_copy(update={"uuid": uuid4()}))
    assert exc.value.code == "domain_exists"


def test_define_renames_a_stopped_domain(domains: Domains) -> None:
    spec = domain_spec()
    define(domains, spec)
    define(domains, spec.model_copy(update={"name": "ovrmtest-renamed"}))
    assert domains.get(spec.uuid).name == "ovrmtest-renamed"


def test_define_refuses_renaming_a_running_domain(domains: Domains, running: UUID) -> None:
    spec = domain_spec(uuid=running, name="ovrmtest-other")
    with pytest.raises(StateConflict):
        define(domains, spec)


def test_statuses_list_every_domain(domains: Domains, running: UUID) -> None:
    stopped = define(domains, domain_spec())
    found = {s.uuid: s.state for s in domains.statuses()}
    assert found[running] == DomainState.RUNNING
    assert found[stopped] == DomainState.SHUTOFF


def test_lifecycle_twice_is_once(domains: Domains) -> None:
    uuid = define(domains, domain_spec())
    for _ in range(2):
        domains.start(uuid)
    assert state(domains, uuid) == DomainState.RUNNING
    for _ in range(2):
        domains.suspend(uuid)
    assert state(domains, uuid) == DomainState.PAUSED
    for _ in range(2):
        domains.resume(uuid)
    assert state(domains, uuid) == DomainState.RUNNING
    for _ in range(2):
        domains.destroy(uuid)
    assert state(domains, uuid) == DomainState.SHUTOFF


def test_shutdown_stops_and_is_idempotent(domains: Domains, running: UUID) -> None:
    # The test driver powers off at once on a shutdown request.
    for _ in range(2):
        domains.shutdown(running, timeout_s=1.0)
    assert state(domains, running) == DomainState.SHUTOFF


def test_reboot_and_reset_keep_it_running(domains: Domains, running: UUID) -> None:
    domains.reboot(running)
    domains.reset(running)
    assert state(domains, running) == DomainState.RUNNING


@pytest.mark.parametrize("action", ["reboot", "reset", "suspend", "resume"])
def test_actions_needing_a_running_domain(domains: Domains, action: str) -> None:
    uuid = define(domains, domain_spec())
    with pytest.raises(StateConflict, match="not running"):
        getattr(domains, action)(uuid)


def test_unknown_uuid_is_domain_not_found(domains: Domains) -> None:
    uuid = uuid4()
    calls: list[Callable[[], object]] = [
        lambda: domains.get(uuid),
        lambda: domains.start(uuid),
        lambda: domains.shutdown(uuid, timeout_s=1),
        lambda: domains.destroy(uuid),
        lambda: domains.set_vcpus(uuid, 1),
        lambda: domains.snapshots(uuid),
        lambda: domains.console(uuid),
    ]
    for call in calls:
        with pytest.raises(NotFound) as exc:
            call()
        assert exc.value.code == "domain_not_found"
        assert exc.value.status == 404


def test_undefine_returns_disks_and_is_idempotent(domains: Domains) -> None:
    cdrom = disk("hdc", bus="ide", kind="cdrom")
    uuid = define(domains, domain_spec(disks=[disk(), disk("vdb"), cdrom]))
    domains.snapshot_create(uuid, SnapshotSpec(name="s1"))
    removed = domains.undefine(uuid)
    assert [(d.device, d.pool, d.volume) for d in removed] == [
        ("vda", "ovrmtest-pool", "ovrmtest-vda"),
        ("vdb", "ovrmtest-pool", "ovrmtest-vdb"),
    ]
    assert domains.undefine(uuid) == []
    with pytest.raises(NotFound):
        domains.get(uuid)


def test_undefine_refuses_a_running_domain(domains: Domains, running: UUID) -> None:
    with pytest.raises(StateConflict, match="stop it"):
        domains.undefine(running)
    assert state(domains, running) == DomainState.RUNNING


def test_vcpus_live_and_config(domains: Domains, running: UUID) -> None:
    for _ in range(2):
        domains.set_vcpus(running, 2)
    assert domains.get(running).vcpus == 2
    domains.destroy(running)
    assert domains.get(running).vcpus == 2  # the persistent config followed
    domains.set_vcpus(running, 1)
    assert domains.get(running).vcpus == 1


def test_vcpus_above_max_is_invalid(domains: Domains, running: UUID) -> None:
    with pytest.raises(InvalidSpec, match="maximum of 2"):
        domains.set_vcpus(running, 3)
    assert domains.get(running).vcpus == 1


def test_memory_live_and_config(domains: Domains, running: UUID) -> None:
    for _ in range(2):
        domains.set_memory(running, 100)
    assert domains.get(running).memory_mib == 100
    domains.destroy(running)
    assert domains.get(running).memory_mib == 100
    domains.set_memory(running, 80)
    assert domains.get(running).memory_mib == 80


def test_memory_above_max_is_invalid(domains: Domains, running: UUID) -> None:
    with pytest.raises(InvalidSpec, match="maximum of 128 MiB"):
        domains.set_memory(running, 129)


def test_snapshots_by_name(domains: Domains, running: UUID) -> None:
    first = domains.snapshot_create(running, SnapshotSpec(name="s1", description="before"))
    again = domains.snapshot_create(running, SnapshotSpec(name="s1", description="ignored"))
    assert first == again
    assert (first.description, first.state) == ("before", DomainState.RUNNING)
    domains.destroy(running)
    domains.snapshot_create(running, SnapshotSpec(name="s2"))
    assert [s.name for s in domains.snapshots(running)] == ["s1", "s2"]
    domains.snapshot_revert(running, "s1")
    assert state(domains, running) == DomainState.RUNNING
    for _ in range(2):
        domains.snapshot_delete(running, "s1")
    assert [s.name for s in domains.snapshots(running)] == ["s2"]


def test_revert_to_unknown_snapshot(domains: Domains, running: UUID) -> None:
    with pytest.raises(NotFound) as exc:
        domains.snapshot_revert(running, "nope")
    assert exc.value.code == "snapshot_not_found"


def test_console_needs_a_running_domain(domains: Domains) -> None:
    uuid = define(domains, domain_spec())
    with pytest.raises(StateConflict, match="not running"):
        domains.console(uuid)


def test_console_of_a_running_domain_on_the_test_driver(domains: Domains, running: UUID) -> None:
    # The test driver gives the serial port no pseudo-terminal and has no VNC socket.
    with pytest.raises(NotFound) as exc:
        domains.console(running)
    assert exc.value.code == "console_not_found"
    with pytest.raises(NotFound):
        domains.serial_path(running)


EMPTY_CDROM = disk(
    "hdc", bus="ide", kind="cdrom", format="raw", readonly=True, volume=None, pool=None
)


def test_media_of_unknown_devices_and_disks(domains: Domains) -> None:
    # (The test driver cannot change media: that is tested on qemu:///system.)
    uuid = define(domains, domain_spec(disks=[disk(), EMPTY_CDROM]))
    with pytest.raises(NotFound) as missing:
        domains.change_media(uuid, "hdd", None)
    assert (missing.value.code, missing.value.status) == ("device_not_found", 404)
    with pytest.raises(StateConflict) as not_cdrom:
        domains.change_media(uuid, "vda", None)
    assert (not_cdrom.value.code, not_cdrom.value.status) == ("not_a_cdrom", 409)
