"""Storage pools and volumes: XML and rules on libvirt's test driver, files on qemu:///system."""

from __future__ import annotations

import json
import subprocess
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from cna_agent.errors import AlreadyExists, InvalidSpec, NotFound, StateConflict
from cna_agent.protocol import PoolSpec, PoolType, VolumeReport, VolumeSpec
from cna_agent.virt.connection import Hypervisor
from cna_agent.virt.storage import Storage, pool_xml, volume_xml


def _name(kind: str) -> str:
    return f"ovrmtest-{kind}-{uuid.uuid4().hex[:6]}"


def _qemu_img_info(path: str) -> dict[str, Any]:
    out = subprocess.run(
        ["qemu-img", "info", "-U", "--output=json", path],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    info: dict[str, Any] = json.loads(out)
    return info


# --- XML builders ---------------------------------------------------------------------


def test_dir_pool_xml() -> None:
    root = ET.fromstring(pool_xml(PoolSpec(name="ds1", path="/srv/ds1/")))
    assert root.get("type") == "dir"
    assert root.findtext("name") == "ds1"
    assert root.findtext("target/path") == "/srv/ds1"
    assert root.find("source") is None


def test_netfs_pool_xml() -> None:
    spec = PoolSpec(name="nfs1", type=PoolType.NETFS, path="/mnt/nfs1", source="nas.lab:/export/vm")
    root = ET.fromstring(pool_xml(spec))
    assert root.get("type") == "netfs"
    assert root.find("source/host").get("name") == "nas.lab"  # type: ignore[union-attr]
    assert root.find("source/dir").get("path") == "/export/vm"  # type: ignore[union-attr]
    assert root.find("source/format").get("type") == "nfs"  # type: ignore[union-attr]
    assert root.findtext("target/path") == "/mnt/nfs1"


@pytest.mark.parametrize("source", ["", "nas", "nas:export", "/export", "n s:/x", ":/x"])
def test_netfs_source_is_validated(source: str) -> None:
    spec = PoolSpec(name="nfs1", type=PoolType.NETFS, path="/mnt/nfs1", source=source)
    with pytest.raises(InvalidSpec) as caught:
        pool_xml(spec)
    assert caught.value.code == "invalid_pool_source"


def test_the_spec_ties_source_to_netfs() -> None:
    with pytest.raises(ValidationError):
        PoolSpec(name="ds1", path="/srv/ds1", source="nas:/export")
    with pytest.raises(ValidationError):
        PoolSpec(name="nfs1", type=PoolType.NETFS, path="/mnt/nfs1")


def test_xml_builder_still_refuses_a_dir_pool_with_a_source() -> None:
    # Defence in depth for specs built without validation.
    spec = PoolSpec.model_construct(
        name="ds1", type=PoolType.DIR, path="/srv/ds1", source="nas:/export"
    )
    with pytest.raises(InvalidSpec):
        pool_xml(spec)


def test_linked_clone_xml_names_its_backing_store() -> None:
    base = VolumeReport(
        name="base", pool="p", path="/p/base", format="qcow2", capacity_mib=8, allocation_mib=0
    )
    root = ET.fromstring(volume_xml("clone", capacity=8 << 20, fmt="qcow2", backing=base))
    assert root.findtext("capacity") == str(8 << 20)
    assert root.find("target/format").get("type") == "qcow2"  # type: ignore[union-attr]
    assert root.findtext("backingStore/path") == "/p/base"
    assert root.find("backingStore/format").get("type") == "qcow2"  # type: ignore[union-attr]


# --- libvirt's test driver --------------------------------------------------------------


def test_pools_on_the_test_driver(test_hv: Hypervisor) -> None:
    storage = Storage(test_hv)
    spec = PoolSpec(name="ds1", path="/ds1")
    first = storage.ensure_pool(spec)
    assert storage.ensure_pool(spec) == first
    assert (first.name, first.type, first.path, first.active) == ("ds1", "dir", "/ds1", True)
    assert {p.name for p in storage.pools()} == {"default-pool", "ds1"}
    assert test_hv.conn.storagePoolLookupByName("ds1").autostart()

    with pytest.raises(AlreadyExists) as caught:
        storage.ensure_pool(PoolSpec(name="ds1", path="/elsewhere"))
    assert caught.value.code == "pool_exists"
    with pytest.raises(AlreadyExists) as taken:
        storage.ensure_pool(PoolSpec(name="ds2", path="/ds1/"))
    assert taken.value.code == "pool_path_in_use"

    storage.delete_pool("ds1")
    storage.delete_pool("ds1")
    with pytest.raises(NotFound) as missing:
        storage.pool("ds1")
    assert missing.value.code == "pool_not_found"


def test_volume_rules_on_the_test_driver(test_hv: Hypervisor) -> None:
    storage = Storage(test_hv)
    storage.ensure_pool(PoolSpec(name="ds1", path="/ds1"))
    base = storage.create_volume("ds1", VolumeSpec(name="base", capacity_mib=16))
    assert storage.create_volume("ds1", VolumeSpec(name="base", capacity_mib=16)) == base
    with pytest.raises(AlreadyExists):
        storage.create_volume("ds1", VolumeSpec(name="base", capacity_mib=32))
    with pytest.raises(InvalidSpec):
        storage.create_volume(
            "ds1", VolumeSpec(name="c", capacity_mib=16, format="raw", backing_volume="base")
        )
    with pytest.raises(InvalidSpec):
        storage.create_volume("ds1", VolumeSpec(name="c", capacity_mib=8, backing_volume="base"))

    linked = VolumeSpec(name="c", capacity_mib=16, backing_volume="base")
    clone = storage.create_volume("ds1", linked)
    assert clone.backing_path == base.path
    with pytest.raises(StateConflict) as busy:
        storage.delete_volume("ds1", "base")
    assert busy.value.code == "volume_in_use"
    with pytest.raises(StateConflict) as full:
        storage.delete_pool("ds1")
    assert full.value.code == "pool_not_empty"

    storage.delete_volume("ds1", "c")
    storage.delete_volume("ds1", "base")
    storage.delete_volume("ds1", "base")
    assert storage.volumes("ds1") == []
    with pytest.raises(NotFound):
        storage.volume("ds1", "base")


# --- qemu:///system -------------------------------------------------------------------


def test_dir_pool_life_cycle(qemu_hv: Hypervisor, tmp_path: Path) -> None:
    storage = Storage(qemu_hv)
    directory = tmp_path / "pool"
    spec = PoolSpec(name=_name("pool"), path=str(directory))

    first = storage.ensure_pool(spec)
    second = storage.ensure_pool(spec)
    assert (second.name, second.type, second.path, second.active) == (
        spec.name,
        "dir",
        str(directory),
        True,
    )
    assert first.capacity_mib == second.capacity_mib > 0
    assert directory.is_dir()
    assert qemu_hv.conn.storagePoolLookupByName(spec.name).autostart()
    assert spec.name in {p.name for p in storage.pools()}
    assert storage.pool(spec.name).path == str(directory)

    with pytest.raises(AlreadyExists):
        storage.ensure_pool(PoolSpec(name=spec.name, path=str(tmp_path / "other")))

    storage.delete_pool(spec.name)
    storage.delete_pool(spec.name)
    assert not directory.exists()
    assert spec.name not in {p.name for p in storage.pools()}


def test_non_empty_pool_is_kept(qemu_hv: Hypervisor, tmp_path: Path) -> None:
    storage = Storage(qemu_hv)
    pool = storage.ensure_pool(PoolSpec(name=_name("pool"), path=str(tmp_path / "pool"))).name
    storage.create_volume(pool, VolumeSpec(name="disk", capacity_mib=4))

    with pytest.raises(StateConflict) as caught:
        storage.delete_pool(pool)
    assert caught.value.code == "pool_not_empty"
    assert storage.pool(pool).active
    assert storage.volume(pool, "disk").capacity_mib == 4


def test_volume_life_cycle(qemu_hv: Hypervisor, tmp_path: Path) -> None:
    storage = Storage(qemu_hv)
    pool = storage.ensure_pool(PoolSpec(name=_name("pool"), path=str(tmp_path / "pool"))).name
    qcow = storage.create_volume(pool, VolumeSpec(name="base", capacity_mib=16))
    raw = storage.create_volume(pool, VolumeSpec(name="data", capacity_mib=8, format="raw"))
    assert (qcow.format, qcow.capacity_mib, qcow.backing_path) == ("qcow2", 16, None)
    assert (raw.format, raw.capacity_mib) == ("raw", 8)
    assert raw.path == storage.volume_path(pool, "data") == str(tmp_path / "pool" / "data")
    assert {v.name for v in storage.volumes(pool)} == {"base", "data"}
    assert _qemu_img_info(qcow.path)["format"] == "qcow2"

    assert storage.resize_volume(pool, "base", 32).capacity_mib == 32
    assert storage.resize_volume(pool, "data", 12).capacity_mib == 12
    assert storage.resize_volume(pool, "data", 12).capacity_mib == 12
    with pytest.raises(InvalidSpec) as shrink:
        storage.resize_volume(pool, "base", 16)
    assert shrink.value.code == "volume_shrink"
    assert _qemu_img_info(qcow.path)["virtual-size"] == 32 << 20

    copy = storage.clone_volume(pool, "base", "copy")
    assert (copy.format, copy.capacity_mib, copy.backing_path) == ("qcow2", 32, None)
    assert storage.clone_volume(pool, "base", "copy") == copy

    spec = VolumeSpec(name="vm1", capacity_mib=32, backing_volume="base")
    linked = storage.create_volume(pool, spec)
    assert linked.backing_path == qcow.path
    info = _qemu_img_info(linked.path)
    assert (info["backing-filename"], info["backing-filename-format"]) == (qcow.path, "qcow2")
    flat = storage.clone_volume(pool, "vm1", "vm1-flat")
    assert flat.backing_path is None
    assert "backing-filename" not in _qemu_img_info(flat.path)

    with pytest.raises(StateConflict):
        storage.delete_volume(pool, "base")
    for name in ("vm1", "vm1-flat", "copy", "base", "data", "base"):
        storage.delete_volume(pool, name)
    assert storage.volumes(pool) == []
    assert not Path(qcow.path).exists()
