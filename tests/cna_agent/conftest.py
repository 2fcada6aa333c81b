"""Fixtures for agent tests: libvirt's in-process test driver and the real qemu:///system.

``qemu:///system`` needs a running libvirtd (``make test`` starts it with
``scripts/node-services.sh``). Its guests are TCG (``type='qemu'``) on this kind of
machine. Everything a test creates there carries the ``ovrmtest-`` prefix and is
removed afterwards, even when the test fails.
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

import libvirt
import pytest

from cna_agent.virt.connection import Hypervisor

PREFIX = "ovrmtest-"
# MACs of test NICs that get filtered plumbing (named ovb/ovv/ovo + the MAC's last octets).
TEST_MAC_PREFIX = "0a:7e:57"
_PLUMBING = tuple(kind + TEST_MAC_PREFIX.replace(":", "")[2:] for kind in ("ovb", "ovv"))


@pytest.fixture
def test_hv() -> Iterator[Hypervisor]:
    """A hypervisor on libvirt's test driver (fresh state for each test)."""
    hv = Hypervisor("test:///default")
    yield hv
    hv.close()


def _require_libvirtd() -> None:
    if not Path("/var/run/libvirt/libvirt-sock").exists():
        pytest.fail(
            "libvirtd is not running; run `make test` (or scripts/node-services.sh as root)",
            pytrace=False,
        )


@pytest.fixture
def qemu_hv(tmp_path: Path) -> Iterator[Hypervisor]:
    """A hypervisor on the real qemu:///system; test objects are cleaned up afterwards."""
    _require_libvirtd()
    hv = Hypervisor("qemu:///system")
    yield hv
    _cleanup(hv.conn)
    hv.close()


def _cleanup(conn: libvirt.virConnect) -> None:
    """Remove every domain, network and pool whose name starts with the test prefix."""
    for dom in conn.listAllDomains():
        if dom.name().startswith(PREFIX):
            with contextlib.suppress(libvirt.libvirtError):
                if dom.isActive():
                    dom.destroy()
            with contextlib.suppress(libvirt.libvirtError):
                dom.undefineFlags(
                    libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA
                    | libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE
                    | libvirt.VIR_DOMAIN_UNDEFINE_NVRAM
                )
    for net in conn.listAllNetworks():
        # DVS networks made through VRM are named after their test bridge (ovt...).
        if net.name().startswith((PREFIX, "ovt")):
            with contextlib.suppress(libvirt.libvirtError):
                if net.isActive():
                    net.destroy()
            with contextlib.suppress(libvirt.libvirtError):
                net.undefine()
    for pool in conn.listAllStoragePools():
        if pool.name().startswith(PREFIX):
            with contextlib.suppress(libvirt.libvirtError):
                if pool.isActive():
                    pool.destroy()
            with contextlib.suppress(libvirt.libvirtError):
                pool.undefine()
    bridges = subprocess.run(
        ["ovs-vsctl", "list-br"], capture_output=True, text=True, check=False
    ).stdout.split()
    for bridge in bridges:
        if bridge.startswith("ovt"):
            subprocess.run(["ovs-vsctl", "--if-exists", "del-br", bridge], check=False)
    links = subprocess.run(
        ["ip", "-o", "link", "show"], capture_output=True, text=True, check=False
    ).stdout.splitlines()
    for line in links:
        name = line.split(":")[1].strip().split("@")[0] if ":" in line else ""
        if name.startswith(_PLUMBING):
            subprocess.run(["ip", "link", "del", name], check=False)
