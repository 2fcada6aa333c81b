"""Moving a running domain's disk to another file while the guest runs: libvirt's block
copy (a QEMU drive mirror into a file made beforehand), then a pivot onto the copy.

The copy first catches up with the disk, then mirrors every write; the pivot switches
the guest to the copy in one step. The persistent definition still names the original
(the copy is a transient job): the caller defines the domain on the copy. Until the
pivot the guest runs on the original: an aborted or failed copy leaves it there, and
the copy's file is the caller's to delete.
"""

from __future__ import annotations

import logging
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from uuid import UUID
from xml.sax.saxutils import quoteattr

import libvirt

from cna_agent.errors import AgentError, OperationTimeout, StateConflict
from cna_agent.virt.connection import translate, translate_error

log = logging.getLogger(__name__)

POLL_S = 0.2
MIB = 2**20


class CopyAborted(AgentError):
    """The copy was abandoned on request; the domain stays on its original disk."""

    status = 409
    default_code = "disk_copy_aborted"


def copy_disk(
    conn: libvirt.virConnect,
    uuid: UUID | str,
    device: str,
    *,
    path: str,
    fmt: str,
    timeout_s: float,
    bandwidth_mib_s: int | None = None,
    on_progress: Callable[[int, int], None] = lambda _done, _total: None,
    should_abort: Callable[[], bool] = lambda: False,
    poll_s: float = POLL_S,
) -> None:
    """Copy disk ``device`` of running domain ``uuid`` into ``path`` (an existing file of
    the disk's size, in format ``fmt``), then switch the domain onto it.

    ``on_progress`` gets bytes done and bytes in all at every poll. ``should_abort``,
    asked at every poll, abandons the copy (``CopyAborted``); so does the time limit
    (``OperationTimeout``). Either way the guest stays on its original disk.
    """
    with translate():
        dom = conn.lookupByUUIDString(str(uuid))
        if not dom.isActive():
            raise StateConflict(
                f"domain {uuid} is not running; copy a stopped domain's volumes instead",
                code="domain_not_running",
            )
        destination = (
            f"<disk type='file'><source file={quoteattr(path)}/>"
            f"<driver type={quoteattr(fmt)}/></disk>"
        )
        params = {}
        if bandwidth_mib_s is not None:
            params[libvirt.VIR_DOMAIN_BLOCK_COPY_BANDWIDTH] = bandwidth_mib_s * MIB
        # A persistent domain's copy must be a transient job (libvirt 9): if libvirtd
        # restarts meanwhile the copy is lost and the guest stays on its disk. The
        # persistent definition is then the caller's to update.
        flags = (
            libvirt.VIR_DOMAIN_BLOCK_COPY_REUSE_EXT | libvirt.VIR_DOMAIN_BLOCK_COPY_TRANSIENT_JOB
        )
        dom.blockCopy(device, destination, params, flags)
    deadline = time.monotonic() + timeout_s
    try:
        _wait_until_ready(dom, device, deadline, on_progress, should_abort, poll_s)
        _pivot(dom, device, deadline, poll_s)
    except BaseException:
        _abandon(dom, device)
        raise


def _wait_until_ready(
    dom: libvirt.virDomain,
    device: str,
    deadline: float,
    on_progress: Callable[[int, int], None],
    should_abort: Callable[[], bool],
    poll_s: float,
) -> None:
    """Until the copy mirrors the disk (all of it copied, and libvirt says ready)."""
    while True:
        with translate():
            info = dom.blockJobInfo(device, 0)
        if not info:
            raise AgentError(
                f"the copy of disk {device} ended before it was ready (see the node's libvirt log)",
                code="disk_copy_failed",
            )
        done, total = int(info.get("cur", 0)), int(info.get("end", 0))
        on_progress(done, total)
        if total > 0 and done == total and _ready(dom, device):
            return
        if should_abort():
            raise CopyAborted(f"the copy of disk {device} was cancelled")
        if time.monotonic() > deadline:
            raise OperationTimeout(
                f"the copy of disk {device} did not finish in time", code="disk_copy_timeout"
            )
        time.sleep(poll_s)


def _ready(dom: libvirt.virDomain, device: str) -> bool:
    """libvirt's word that the mirror has caught up (``<mirror ready='yes'>``)."""
    with translate():
        root = ET.fromstring(dom.XMLDesc(0))
    for disk in root.iterfind("devices/disk"):
        target, mirror = disk.find("target"), disk.find("mirror")
        if target is not None and target.get("dev") == device:
            return mirror is not None and mirror.get("ready") == "yes"
    return False


def _pivot(dom: libvirt.virDomain, device: str, deadline: float, poll_s: float) -> None:
    """Switch the domain onto the copy, retrying while QEMU says it is not ready yet."""
    while True:
        try:
            dom.blockJobAbort(device, libvirt.VIR_DOMAIN_BLOCK_JOB_ABORT_PIVOT)
            return
        except libvirt.libvirtError as exc:
            if exc.get_error_code() != libvirt.VIR_ERR_BLOCK_COPY_ACTIVE:
                raise translate_error(exc) from exc
            if time.monotonic() > deadline:
                raise OperationTimeout(
                    f"disk {device} could not be switched to its copy in time",
                    code="disk_copy_timeout",
                ) from exc
            time.sleep(poll_s)


def _abandon(dom: libvirt.virDomain, device: str) -> None:
    """Stop the copy, the guest staying on its original disk; nothing when none runs."""
    try:
        if dom.blockJobInfo(device, 0):
            dom.blockJobAbort(device, 0)
    except libvirt.libvirtError as exc:
        log.warning("abandoning the copy of disk %s: %s", device, exc.get_error_message())
