"""The tiny test guest boots from its ISO on the real qemu:///system and obeys ACPI.

A TCG guest (``type='qemu'``) with the ISO as an IDE CD-ROM writes its serial console
(ttyS0) to a file; the test waits for the init's READY line, presses the ACPI power
button and waits until the domain is gone. Timeouts are generous: TCG is slow and the
test shares two cores with the rest of the suite.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import libvirt
import pytest

from tests.cna_agent.conftest import PREFIX
from tests.media import PROJECT, READY_LINE, tiny_iso

BOOT_TIMEOUT_S = 90
SHUTDOWN_TIMEOUT_S = 60


@pytest.fixture
def conn() -> Iterator[libvirt.virConnect]:
    """A connection to qemu:///system, starting the node services when it is down."""
    try:
        connection = libvirt.open("qemu:///system")
    except libvirt.libvirtError:
        subprocess.run([str(PROJECT / "scripts" / "node-services.sh")], check=True)
        connection = libvirt.open("qemu:///system")
    yield connection
    connection.close()


@pytest.fixture
def log_dir() -> Iterator[Path]:
    """A folder QEMU (running as libvirt-qemu) can write in: pytest's tmp dirs are 0700."""
    path = Path(tempfile.mkdtemp(prefix=PREFIX, dir="/var/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _domain_xml(name: str, iso: Path, serial_log: Path) -> str:
    return f"""<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>256</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='cdrom'/></os>
  <features><acpi/></features>
  <devices>
    <disk type='file' device='cdrom'>
      <driver name='qemu' type='raw'/>
      <source file='{iso}'/>
      <target dev='hdc' bus='ide'/>
      <readonly/>
    </disk>
    <serial type='file'><source path='{serial_log}'/><target port='0'/></serial>
  </devices>
</domain>"""


def _wait_for(condition: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return condition()


def _serial_text(serial_log: Path) -> str:
    return serial_log.read_text(errors="replace") if serial_log.exists() else ""


def _printed(serial_log: Path, line: str) -> bool:
    return line in _serial_text(serial_log).splitlines()


def _running(conn: libvirt.virConnect, name: str) -> bool:
    # A transient domain disappears when it powers off.
    try:
        return bool(conn.lookupByName(name).isActive())
    except libvirt.libvirtError:
        return False


def test_tiny_iso_boots_and_obeys_acpi_shutdown(conn: libvirt.virConnect, log_dir: Path) -> None:
    name = f"{PREFIX}media-{uuid.uuid4().hex[:6]}"
    serial_log = log_dir / "ttyS0.log"
    try:
        dom = conn.createXML(_domain_xml(name, tiny_iso(), serial_log), 0)
        booted = _wait_for(lambda: _printed(serial_log, READY_LINE), BOOT_TIMEOUT_S)
        assert booted, _serial_text(serial_log)[-2000:]
        dom.shutdown()
        assert _wait_for(lambda: not _running(conn, name), SHUTDOWN_TIMEOUT_S)
    finally:
        with contextlib.suppress(libvirt.libvirtError):
            conn.lookupByName(name).destroy()
