"""Removing a bed, or what a killed run left: every ``ovrmlab*`` process, link and folder.

A host's processes are found by their network namespace (``/proc/<pid>/ns/net``), so
guests, daemons and whatever a test started in the host go, whoever their parent is.
Nothing outside the ``ovrmlab`` names is touched: not the main libvirtd, not the root
Open vSwitch.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path

log = logging.getLogger(__name__)

PREFIX = "ovrmlab"
NETNS_DIR = Path("/run/netns")
VAR_TMP = Path("/var/tmp")
TERM_WAIT_S = 5.0
KILL_WAIT_S = 5.0


def netns_names() -> list[str]:
    """The bed's network namespaces that exist now (named ``ovrmlab*``)."""
    if not NETNS_DIR.is_dir():
        return []
    return sorted(p.name for p in NETNS_DIR.iterdir() if p.name.startswith(PREFIX))


def link_names() -> list[str]:
    """The bed's links in the root namespace (bridges, veth ends)."""
    out = subprocess.run(
        ["ip", "-o", "link", "show"], capture_output=True, text=True, check=True
    ).stdout
    names = (line.split(":")[1].strip().split("@")[0] for line in out.splitlines())
    return [name for name in names if name.startswith(PREFIX)]


def folders() -> list[Path]:
    """The bed's folders below /var/tmp (local, shared and mount-point folders)."""
    return sorted(p for p in VAR_TMP.iterdir() if p.name.startswith(PREFIX + "-"))


def netns_pids(name: str) -> list[int]:
    """Processes living in network namespace ``name`` (zombies left out)."""
    try:
        inode = (NETNS_DIR / name).stat().st_ino
    except FileNotFoundError:
        return []
    target = f"net:[{inode}]"
    return [pid for pid in _pids() if _netns_of(pid) == target and not _zombie(pid)]


def kill_netns(name: str) -> None:
    """SIGTERM every process of the namespace, then SIGKILL what lingers."""
    for sig, wait_s in ((signal.SIGTERM, TERM_WAIT_S), (signal.SIGKILL, KILL_WAIT_S)):
        pids = netns_pids(name)
        if not pids:
            return
        _signal(pids, sig)
        deadline = time.monotonic() + wait_s
        while netns_pids(name) and time.monotonic() < deadline:
            time.sleep(0.05)
    if left := netns_pids(name):
        raise RuntimeError(f"processes {left} of {name} survived SIGKILL")


def remove_all(netns: Iterable[str], links: Iterable[str], paths: Iterable[Path]) -> None:
    """Kill the namespaces' processes, delete namespaces, links and folders."""
    for name in netns:
        kill_netns(name)
        subprocess.run(["ip", "netns", "delete", name], check=False, capture_output=True)
    for link in links:
        subprocess.run(["ip", "link", "delete", link], check=False, capture_output=True)
    for path in paths:
        shutil.rmtree(path, ignore_errors=True)


def leftovers() -> list[str]:
    """Everything of a bed that still exists: namespaces, links and folders."""
    return [*netns_names(), *link_names(), *(str(p) for p in folders())]


def cleanup_leftovers() -> None:
    """Remove what an earlier, killed bed left behind."""
    if found := leftovers():
        log.warning("removing a bed's leftovers: %s", ", ".join(found))
        remove_all(netns_names(), link_names(), folders())


def _pids() -> list[int]:
    return [int(entry) for entry in os.listdir("/proc") if entry.isdigit()]


def _netns_of(pid: int) -> str:
    try:
        return os.readlink(f"/proc/{pid}/ns/net")
    except OSError:
        return ""


def _zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    # The command name, in parentheses, may hold spaces: the state follows the last ')'.
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


def _signal(pids: Iterable[int], sig: signal.Signals) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
