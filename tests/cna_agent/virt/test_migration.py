"""Live migration: the steering rules on their own, then real migrations between lab hosts.

The lab tests run on a bed of two hosts (tests/lab/hosts.py) shared by the module. Guests
without an OS migrate almost for free, so the ones that must last carry a block of
random memory (tests/lab/guests.py) and a low bandwidth limit.
"""

from __future__ import annotations

import subprocess
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import libvirt
import pytest

from cna_agent.virt import cpu, migration, relocate
from cna_agent.virt.convergence import (
    Abort,
    MigrationAborted,
    MigrationPolicy,
    MigrationProgress,
    MigrationResult,
    MigrationTimeout,
    RaiseDowntime,
    StartPostCopy,
    Steering,
)
from tests.lab import guests
from tests.lab.hosts import Host, lab_hosts

Bed = list[Host]
Conns = list[libvirt.virConnect]
POLICY = MigrationPolicy(completion_timeout_s=60, no_progress_timeout_s=30, stall_iterations=2)
# The lab's shared folder is a plain directory: libvirt cannot tell it is shared.
SHARED = replace(POLICY, unsafe=True)


def _sample(iteration: int = 1, memory_remaining: int = 1000, **figures: Any) -> MigrationProgress:
    """A sample of a job with 10,000 bytes in all, ``memory_remaining`` of them still to send."""
    values: dict[str, Any] = dict.fromkeys((f.name for f in fields(MigrationProgress)), 0)
    values |= {"data_total": 10_000, "data_remaining": memory_remaining, "post_copy": False}
    values |= {"memory_remaining": memory_remaining, "memory_iteration": iteration}
    values |= {"downtime_ms": None, "max_downtime_ms": None}
    return MigrationProgress(**(values | figures))


# --- steering, without libvirt ------------------------------------------------------


def test_downtime_steps_up_after_passes_that_leave_no_less_memory() -> None:
    steering = Steering(POLICY, "u", started=0.0)
    decisions = [
        steering.decide(_sample(it, remaining), now=1.0)
        for it, remaining in ((1, 900), (2, 500), (3, 600), (4, 500))
    ]

    assert decisions == [None, None, None, RaiseDowntime(200)]
    assert steering.max_downtime_ms == 200


def test_shrinking_memory_keeps_the_downtime() -> None:
    steering = Steering(POLICY, "u", started=0.0)

    for it, remaining in enumerate((900, 800, 700, 600, 500), start=1):
        assert steering.decide(_sample(it, remaining), now=1.0) is None
    assert steering.max_downtime_ms == 100


def test_post_copy_follows_the_last_step_when_allowed() -> None:
    policy = replace(POLICY, downtime_steps_ms=(100, 500), post_copy=True, stall_iterations=1)
    steering = Steering(policy, "u", started=0.0)
    actions = [steering.decide(_sample(it, 500), now=1.0) for it in range(1, 5)]

    assert actions == [None, None, RaiseDowntime(500), StartPostCopy()]
    assert steering.post_copy
    # Past that point the guest runs on the destination: no limit aborts it.
    assert steering.decide(_sample(9, 500), now=10_000.0) is None
    assert steering.cancel("the operator") is None


def test_without_post_copy_the_last_step_just_waits() -> None:
    policy = replace(POLICY, downtime_steps_ms=(100,), stall_iterations=1)
    steering = Steering(policy, "u", started=0.0)

    assert [steering.decide(_sample(it, 500), now=1.0) for it in range(1, 6)] == [None] * 5


def test_completion_timeout_aborts_with_the_limit_named() -> None:
    steering = Steering(replace(POLICY, completion_timeout_s=5), "u", started=0.0)

    action = steering.decide(_sample(1, 10), now=6.0)

    assert isinstance(action, Abort)
    assert isinstance(action.error, MigrationTimeout)
    assert action.error.code == "migration_timeout"
    assert "did not complete within 5 s" in action.error.message
    assert action.error.details["limit"] == "completion_timeout_s"


def test_no_progress_timeout_counts_from_the_last_new_low() -> None:
    steering = Steering(replace(POLICY, no_progress_timeout_s=3), "u", started=0.0)

    assert steering.decide(_sample(1, 800), now=1.0) is None
    assert steering.decide(_sample(1, 900), now=3.5) is None
    action = steering.decide(_sample(1, 850), now=4.5)

    assert isinstance(action, Abort)
    assert "made no progress for 3 s" in action.error.message
    assert action.error.details["limit"] == "no_progress_timeout_s"


def test_limits_apply_before_the_first_figures() -> None:
    steering = Steering(replace(POLICY, no_progress_timeout_s=3), "u", started=0.0)

    assert isinstance(steering.decide(None, now=4.0), Abort)


def test_cancel_names_who() -> None:
    action = Steering(POLICY, "u", started=0.0).cancel("admin")

    assert isinstance(action, Abort)
    assert isinstance(action.error, MigrationAborted)
    assert action.error.code == "migration_aborted"
    assert action.error.message == "migration of u was cancelled by admin"


def test_flags_and_params_follow_the_policy() -> None:
    policy = replace(POLICY, bandwidth_mib_s=16, copy_storage=True, auto_converge=True)
    flags = migration.migration_flags(policy)
    params = migration.migration_params(policy, "tcp://10.0.0.2")

    for flag in ("LIVE", "PEER2PEER", "PERSIST_DEST", "UNDEFINE_SOURCE", "NON_SHARED_DISK"):
        assert flags & getattr(libvirt, f"VIR_MIGRATE_{flag}")
    assert flags & libvirt.VIR_MIGRATE_AUTO_CONVERGE
    assert not flags & (libvirt.VIR_MIGRATE_POSTCOPY | libvirt.VIR_MIGRATE_UNSAFE)
    assert params == {"migrate_uri": "tcp://10.0.0.2", "bandwidth": 16}
    transient = migration.migration_flags(replace(POLICY, persistent=False))
    assert not transient & libvirt.VIR_MIGRATE_UNDEFINE_SOURCE
    with_xml = migration.migration_params(POLICY, "tcp://10.0.0.2", "<domain/>")
    assert with_xml["destination_xml"] == with_xml["persistent_xml"] == "<domain/>"
    some = migration.migration_params(replace(policy, copy_disks=("vdb",)), "tcp://10.0.0.2")
    assert some["migrate_disks"] == ["vdb"], "only the disks named are copied"


def test_policy_refuses_unordered_steps() -> None:
    with pytest.raises(ValueError, match="ascending"):
        replace(POLICY, downtime_steps_ms=(300, 100))


def test_percent_is_the_share_of_data_sent() -> None:
    assert _sample(memory_remaining=2_500).percent == 75.0
    assert replace(_sample(), data_total=0).percent == 0.0


# --- real migrations between two lab hosts -------------------------------------------


@pytest.fixture(scope="module")
def bed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Host]]:
    """Two lab hosts for the module, with a block of random memory in the shared folder."""
    with lab_hosts(2, tmp_path_factory.mktemp("migration")) as hosts:
        guests.make_blob(hosts[0].shared_dir / "blob", 64)
        yield hosts


@pytest.fixture(scope="module")
def conns(bed: list[Host]) -> Iterator[list[libvirt.virConnect]]:
    """A connection to each host's libvirtd."""
    opened = [libvirt.open(host.libvirt_uri) for host in bed]
    yield opened
    for conn in opened:
        conn.close()


@pytest.fixture
def guest(bed: Bed, conns: Conns) -> Iterator[Any]:
    """A running guest on host 1 (512 MiB, 64 MiB of it random); removed afterwards."""
    name = f"ovrmlab-{uuid.uuid4().hex[:8]}"
    disk = guests.make_disk(bed[0].shared_dir / f"{name}.qcow2")
    xml = guests.domain_xml(name, memory_mib=512, disk=disk, blob=bed[0].shared_dir / "blob")
    dom = guests.start(conns[0], xml)
    yield dom
    for conn in conns:
        guests.remove(conn, name)


def _migrate(
    bed: Bed, conn: libvirt.virConnect, dom: Any, policy: MigrationPolicy, **kw: Any
) -> MigrationResult:
    return migration.migrate(
        conn,
        dom.UUIDString(),
        dest_uri=bed[1].libvirt_uri,
        migrate_uri=bed[1].migration_uri,
        policy=policy,
        **kw,
    )


def _still_on_source(conns: Conns, name: str) -> None:
    """The guest runs (not paused) on host 1 and left nothing on host 2."""
    assert conns[0].lookupByName(name).state(0)[0] == libvirt.VIR_DOMAIN_RUNNING
    assert name not in guests.names(conns[1])


def test_a_migration_reports_progress_and_final_figures(bed: Bed, conns: Conns, guest: Any) -> None:
    seen: list[MigrationProgress] = []
    policy = replace(SHARED, bandwidth_mib_s=32)

    result = _migrate(bed, conns[0], guest, policy, on_progress=seen.append)

    assert seen
    assert all(0.0 <= s.percent <= 100.0 for s in seen)
    assert max(s.data_processed for s in seen) > 0
    assert {s.max_downtime_ms for s in seen} == {100}
    assert result.figures_from == "destination"
    assert result.downtime_ms is not None
    assert result.downtime_ms > 0
    assert result.data_bytes >= 64 << 20
    assert result.iterations >= 1
    assert result.max_downtime_ms == 100
    assert result.wall_ms >= result.elapsed_ms > 0
    assert guests.names(conns[1])[guest.name()] is True
    assert guest.name() not in guests.names(conns[0])


def test_should_abort_cancels_and_the_guest_stays_on_the_source(
    bed: Bed, conns: Conns, guest: Any
) -> None:
    seen: list[MigrationProgress] = []
    during: list[MigrationProgress | None] = []

    def watch(sample: MigrationProgress) -> None:
        seen.append(sample)
        during.append(migration.job_progress(conns[0], guest.UUIDString()))

    policy = replace(SHARED, bandwidth_mib_s=8)
    with pytest.raises(MigrationAborted) as caught:
        _migrate(
            bed,
            conns[0],
            guest,
            policy,
            on_progress=watch,
            should_abort=lambda: "admin" if any(s.data_processed for s in seen) else False,
        )

    assert caught.value.code == "migration_aborted"
    assert "cancelled by admin" in caught.value.message
    assert any(p is not None and p.data_total > 0 for p in during)
    _still_on_source(conns, guest.name())
    assert migration.job_progress(conns[0], guest.UUIDString()) is None


# 0.2 s: the abort comes while the destination prepares, when libvirt 9.0 would hold an
# abort sent on the migrating connection until the migration ended.
@pytest.mark.parametrize(("timeout_s", "poll_s"), [(1.0, 0.5), (0.2, 0.1)])
def test_a_completion_timeout_aborts_cleanly(
    bed: Bed, conns: Conns, guest: Any, timeout_s: float, poll_s: float
) -> None:
    policy = replace(SHARED, bandwidth_mib_s=8, completion_timeout_s=timeout_s)

    with pytest.raises(MigrationTimeout) as caught:
        _migrate(bed, conns[0], guest, policy, poll_s=poll_s)

    assert caught.value.code == "migration_timeout"
    assert caught.value.details["limit"] == "completion_timeout_s"
    _still_on_source(conns, guest.name())


def test_an_abort_from_elsewhere_is_reported_as_such(bed: Bed, conns: Conns, guest: Any) -> None:
    aborted: list[bool] = []

    def abort_once(sample: MigrationProgress) -> None:
        if sample.data_processed and not aborted:
            aborted.append(migration.abort(conns[0], guest.UUIDString()))

    with pytest.raises(MigrationAborted, match="cancelled by another request"):
        _migrate(bed, conns[0], guest, replace(SHARED, bandwidth_mib_s=8), on_progress=abort_once)

    assert aborted == [True]
    _still_on_source(conns, guest.name())
    assert migration.abort(conns[0], guest.UUIDString()) is False


@pytest.mark.parametrize("destination", ["precreated", "pool"])
def test_a_storage_copy_brings_the_disk_along(bed: Bed, conns: Conns, destination: str) -> None:
    first, second = bed
    name = f"ovrmlab-copy-{destination}"
    source = guests.make_disk(first.local_dir / f"{name}.qcow2", "32M")
    _qemu_io(source, "write -P 0x5a 0 4M")
    if destination == "precreated":
        guests.make_disk(second.local_dir / source.name, "32M")
    else:
        # With a pool over the folder, libvirt creates the destination volume itself.
        pool = conns[1].storagePoolCreateXML(_dir_pool(second.local_mount), 0)
    dom = guests.start(conns[0], guests.domain_xml(name, disk=first.local_mount / source.name))
    try:
        # 16 MiB/s: the copy lasts long enough to be sampled (the destination does not count it).
        policy = replace(POLICY, copy_storage=True, bandwidth_mib_s=16)
        result = _migrate(bed, conns[0], dom, policy)

        assert guests.names(conns[1]) == {name: True}
        assert name not in guests.names(conns[0])
        assert result.disk_bytes >= 32 << 20
        _qemu_io(second.local_dir / source.name, "read -P 0x5a 0 4M", "-r", "-U")
    finally:
        for conn in conns:
            guests.remove(conn, name)
        if destination == "pool":
            pool.destroy()


def test_a_storage_copy_to_another_path_takes_the_destination_xml(bed: Bed, conns: Conns) -> None:
    first, second = bed
    name = "ovrmlab-elsewhere"
    source = guests.make_disk(first.local_dir / f"{name}.qcow2", "32M")
    target = guests.make_disk(second.local_dir / f"{name}-there.qcow2", "32M")
    _qemu_io(source, "write -P 0x3c 0 1M")
    dom = guests.start(conns[0], guests.domain_xml(name, disk=source))
    flags = libvirt.VIR_DOMAIN_XML_MIGRATABLE
    dest_xml = dom.XMLDesc(flags).replace(str(source), str(target))
    try:
        policy = replace(POLICY, copy_storage=True, bandwidth_mib_s=16)
        _migrate(bed, conns[0], dom, policy, dest_xml=dest_xml)

        moved = conns[1].lookupByName(name)
        for xml in (moved.XMLDesc(0), moved.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)):
            assert ET.fromstring(xml).find(f"devices/disk/source[@file='{target}']") is not None
        _qemu_io(target, "read -P 0x3c 0 1M", "-r", "-U")
    finally:
        for conn in conns:
            guests.remove(conn, name)


def test_the_hosts_own_cpu_is_compatible_and_a_missing_feature_is_not(conns: Conns) -> None:
    own = cpu.host_cpu_xml(conns[0])
    lacking = _with_feature(own, _a_feature_the_host_lacks(own))
    made_up = _with_feature(own, "ovrmlab-no-such-feature")

    assert cpu.compare_cpu(conns[1], own).compatible
    verdict = cpu.compare_cpu(conns[1], lacking)
    assert not verdict.compatible
    assert verdict.relation == "incompatible"
    assert _a_feature_the_host_lacks(own) in verdict.detail
    assert not cpu.compare_cpu(conns[1], made_up).compatible
    baseline = cpu.baseline_cpu(conns[1], [own, cpu.host_cpu_xml(conns[1])])
    assert ET.fromstring(baseline).findtext("model")
    assert cpu.compare_cpu(conns[0], baseline).compatible


def _qemu_io(image: Path, command: str, *options: str) -> None:
    done = subprocess.run(
        ["qemu-io", *options, "-c", command, str(image)], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done
    # qemu-io reports a pattern mismatch on stdout with exit status 0.
    assert "Pattern verification failed" not in done.stdout


def _dir_pool(path: Path) -> str:
    return f"<pool type='dir'><name>ovrmlab-local</name><target><path>{path}</path></target></pool>"


def _with_feature(cpu_xml: str, feature: str) -> str:
    cpu = ET.fromstring(cpu_xml)
    ET.SubElement(cpu, "feature", name=feature)
    return ET.tostring(cpu, encoding="unicode")


def _a_feature_the_host_lacks(cpu_xml: str) -> str:
    """A feature libvirt knows for x86 that this CPU does not list."""
    have = {f.get("name") for f in ET.fromstring(cpu_xml).iter("feature")}
    known = ET.parse("/usr/share/libvirt/cpu_map/x86_features.xml").getroot()
    candidates = (f.get("name") for f in known.iter("feature"))
    return next(name for name in candidates if name and name not in have and "avx512" in name)


def test_the_destination_definition_has_the_targets_paths() -> None:
    xml = """<domain><devices>
      <disk type='file' device='disk'><source file='/a/linked'/><target dev='vda'/>
        <backingStore type='file'><source file='/a/base'/></backingStore></disk>
      <disk type='file' device='disk'><source file='/shared/data'/><target dev='vdb'/>
        <backingStore type='file'><source file='/shared/base'/></backingStore></disk>
      <disk type='file' device='cdrom'><source file='/a/seed.iso'/><target dev='hdc'/></disk>
      <disk type='file' device='cdrom'><target dev='hdd'/></disk>
    </devices></domain>"""
    moved = relocate.relocated(
        xml,
        disk_paths={"vda": "/b/copy"},
        moved_files={"/a/seed.iso": "/b/seed.iso"},
        copied=["vda"],
    )
    root = ET.fromstring(moved)
    disks = {d.find("target").get("dev"): d for d in root.iterfind("devices/disk")}  # type: ignore[union-attr]
    assert disks["vda"].find("source").get("file") == "/b/copy"  # type: ignore[union-attr]
    assert disks["vda"].find("backingStore") is None, "a copy is a flat volume"
    assert disks["vdb"].find("source").get("file") == "/shared/data"  # type: ignore[union-attr]
    assert disks["vdb"].find("backingStore") is not None, "a shared disk keeps its chain"
    assert disks["hdc"].find("source").get("file") == "/b/seed.iso"  # type: ignore[union-attr]
    assert disks["hdd"].find("source") is None
