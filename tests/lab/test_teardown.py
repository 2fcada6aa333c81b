"""A bed leaves nothing behind, and the next bed removes what a killed one left."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.lab import hosts as lab
from tests.lab import teardown

# A bed in another process, killed without a chance to clean up.
_CHILD = """
import sys, time
from pathlib import Path
from tests.lab.hosts import lab_hosts
with lab_hosts(1, Path(sys.argv[1])) as hosts:
    hosts[0].run(["virsh", "-c", "qemu:///system", "list"])
    print(hosts[0].holder_pid, flush=True)
    time.sleep(600)
"""
PROJECT = Path(__file__).resolve().parents[2]


def test_the_next_bed_removes_what_a_killed_bed_left(tmp_path: Path) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(tmp_path / "killed")],
        cwd=PROJECT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    holder = int(child.stdout.readline())
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=10)
    child.stdout.close()
    left_pids = teardown.netns_pids("ovrmlab-h1")
    assert holder in left_pids
    assert len(left_pids) >= 4  # holder, OVS x2, libvirtd
    assert teardown.leftovers()

    with lab.lab_hosts(1, tmp_path / "next") as hosts:
        assert not any(_alive(pid) for pid in left_pids)
        assert (
            hosts[0].run(["virsh", "-c", "qemu:///system", "list", "--name"]).stdout.strip() == ""
        )
        mine = teardown.netns_pids("ovrmlab-h1")

    assert teardown.leftovers() == []
    assert not any(_alive(pid) for pid in mine)


def test_a_missing_tool_is_named_with_its_package(monkeypatch: pytest.MonkeyPatch) -> None:
    real_which = shutil.which
    monkeypatch.setattr(
        shutil, "which", lambda tool: None if tool == "nsenter" else real_which(tool)
    )

    with pytest.raises(lab.LabError, match=r"nsenter \(util-linux\)"):
        lab.require_tools()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A killed child of ours may linger as a zombie until reaped: that is not alive.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")
