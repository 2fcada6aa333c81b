"""CD-ROM media through the agent's API on qemu:///system: an image volume inserted into
and ejected from a running guest's drive, checked in libvirt's live and persistent XML."""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any

import libvirt
import pytest

from cna_agent.protocol import DiskSpec
from tests.cna_agent.api.served import ServedAgent, served_agent
from tests.helpers import error_of


@pytest.fixture(scope="module")
def agent() -> Iterator[ServedAgent]:
    with served_agent() as agent:
        for name, fmt in (("root", "qcow2"), ("image.iso", "raw")):
            volume = {"name": name, "capacity_mib": 4, "format": fmt}
            agent.ok(agent.http.put(f"/v1/pools/{agent.pool}/volumes/{name}", json=volume))
        yield agent


@pytest.fixture(scope="module")
def vm(agent: ServedAgent) -> uuid.UUID:
    """A running guest: a disk, and an empty CD-ROM that boots first."""
    root = DiskSpec(device="vda", pool=agent.pool, volume="root", boot_order=2)
    cdrom = DiskSpec(device="hdc", bus="ide", kind="cdrom", format="raw", readonly=True)
    return agent.run_vm(disks=[root, cdrom.model_copy(update={"boot_order": 1})])


def cdrom_source(agent: ServedAgent, vm: uuid.UUID, flags: int = 0) -> str | None:
    """The CD-ROM's file in the live (or, with ``INACTIVE``, the persistent) XML."""
    dom = agent.node.hv.conn.lookupByUUIDString(str(vm))
    source = ET.fromstring(dom.XMLDesc(flags)).find("devices/disk[@device='cdrom']/source")
    return None if source is None else source.get("file")


def put_media(agent: ServedAgent, vm: uuid.UUID, device: str, **media: Any) -> Any:
    return agent.http.put(f"/v1/vms/{vm}/media/{device}", json=media)


def test_insert_and_eject_on_a_running_guest(agent: ServedAgent, vm: uuid.UUID) -> None:
    path = agent.ok(agent.http.get(f"/v1/pools/{agent.pool}/volumes/image.iso"))["path"]
    for _ in range(2):  # idempotent
        report = agent.ok(put_media(agent, vm, "hdc", pool=agent.pool, volume="image.iso"))
    cdrom = next(d for d in report["disks"] if d["device"] == "hdc")
    assert (cdrom["pool"], cdrom["volume"], cdrom["boot_order"]) == (agent.pool, "image.iso", 1)
    assert cdrom_source(agent, vm) == path
    assert cdrom_source(agent, vm, libvirt.VIR_DOMAIN_XML_INACTIVE) == path

    for _ in range(2):
        report = agent.ok(put_media(agent, vm, "hdc", pool=None, volume=None))
    cdrom = next(d for d in report["disks"] if d["device"] == "hdc")
    assert (cdrom["pool"], cdrom["volume"], cdrom["boot_order"]) == (None, None, 1)
    assert cdrom_source(agent, vm) is None
    assert cdrom_source(agent, vm, libvirt.VIR_DOMAIN_XML_INACTIVE) is None
    assert agent.ok(agent.http.get(f"/v1/vms/{vm}"))["state"] == "running"


def test_refusals(agent: ServedAgent, vm: uuid.UUID) -> None:
    image = {"pool": agent.pool, "volume": "image.iso"}
    assert error_of(put_media(agent, vm, "hdz", **image), 404)["code"] == "device_not_found"
    assert error_of(put_media(agent, vm, "vda", **image), 409)["code"] == "not_a_cdrom"
    missing = put_media(agent, vm, "hdc", pool=agent.pool, volume="nope.iso")
    assert error_of(missing, 404)["code"] == "volume_not_found"
    assert cdrom_source(agent, vm) is None  # nothing changed
