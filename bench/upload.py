"""A 1 GiB image uploaded through VRM, against ``dd`` of the same file to the same datastore.

Needs root and a running libvirtd (``make services``). Starts ``vrm serve`` (SQLite) and
one ``cna-agent`` on ``qemu:///system``, makes a file of random data (random, so that
nothing on the way can compress or skip it), then in the same run, ``--runs`` times:
``dd`` of it into the datastore's directory (``conv=fsync``, as the agent syncs too) and
``PUT /api/v1/images/{id}/data`` streamed from the file (as ``curl -T`` sends it), to
``ready``. VRM's resident memory is sampled every 50 ms during each upload. Targets:
throughput at least 70 % of ``dd``'s, VRM's RSS growing by less than 50 MB.

    .venv/bin/python -m bench.upload [--runs 3] [--mib 1024]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from bench.lab import PREFIX, admin_client, remove_libvirt_objects, start_node
from tests.e2e.processes import Process, start_vrm, wait_until

MIB = 1024 * 1024
TARGET_RATIO = 0.7
TARGET_RSS_MB = 50.0


def rss_mb(pid: int) -> float:
    """Resident memory of a process, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class RssPeak:
    """The highest RSS of a process while the block runs."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self._stop = pid, rss_mb(pid), threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> RssPeak:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, rss_mb(self.pid))


def by_dd(source: Path, pool_dir: Path) -> float:
    """Seconds for dd to copy the file into the datastore's directory."""
    target = pool_dir / "dd-copy.raw"
    started = time.perf_counter()
    subprocess.run(
        ["dd", f"if={source}", f"of={target}", "bs=4M", "conv=fsync", "status=none"], check=True
    )
    elapsed = time.perf_counter() - started
    target.unlink()
    return elapsed


def through_vrm(admin: httpx.Client, source: Path, number: int) -> float:
    """Seconds to upload the file as a raw image through VRM until it is ready."""
    image = admin.post("/images", json={"name": f"bench-{number}", "format": "raw"}).json()
    image_id = image["image"]["id"]
    started = time.perf_counter()
    with source.open("rb") as data:
        answer = admin.put(
            f"/images/{image_id}/data",
            content=iter(lambda: data.read(MIB), b""),
            headers={"Content-Length": str(source.stat().st_size)},
            timeout=600,
        )
    elapsed = time.perf_counter() - started
    if answer.status_code != 200:
        raise RuntimeError(f"upload failed: {answer.text}")
    deleted = admin.delete(f"/images/{image_id}")
    wait_until(
        lambda: admin.get(f"/tasks/{deleted.json()['task']['id']}").json()["state"] == "succeeded",
        timeout_s=60,
        what="the image to be deleted",
    )
    return elapsed


def main(argv: list[str] | None = None) -> int:
    """Run, print the figures as JSON; exit 1 when a target is missed."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--mib", type=int, default=1024)
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix=PREFIX, dir="/var/tmp"))
    work.chmod(0o755)
    pool_dir = work / "pool"
    vrm = start_vrm(work, VRM_IMAGE_MAX_MIB=str(args.mib * 2))
    agent: Process | None = None
    figures: dict[str, Any] = {}
    try:
        source = work / "source.raw"
        with source.open("wb") as out:
            for _ in range(args.mib):
                out.write(os.urandom(MIB))
        admin = admin_client(vrm)
        cluster = admin.post("/clusters", json={"name": "bench"}).json()
        agent = start_node(work, vrm, admin, cluster["id"])
        dds, uploads, growth = [], [], []
        for number in range(args.runs):
            dds.append(by_dd(source, pool_dir))
            before = rss_mb(vrm.popen.pid)
            with RssPeak(vrm.popen.pid) as peak:
                uploads.append(through_vrm(admin, source, number))
            growth.append(peak.peak - before)
        dd_mb_s = args.mib / statistics.median(dds)
        vrm_mb_s = args.mib / statistics.median(uploads)
        figures = {
            "mib": args.mib,
            "runs": args.runs,
            "dd_s": [round(s, 2) for s in dds],
            "upload_s": [round(s, 2) for s in uploads],
            "dd_mib_s": round(dd_mb_s, 1),
            "upload_mib_s": round(vrm_mb_s, 1),
            "ratio": round(vrm_mb_s / dd_mb_s, 3),
            "vrm_rss_growth_mb": [round(g, 1) for g in growth],
            "targets": {"ratio": TARGET_RATIO, "rss_growth_mb": TARGET_RSS_MB},
        }
        figures["met"] = figures["ratio"] >= TARGET_RATIO and max(growth) < TARGET_RSS_MB
        print(json.dumps(figures, indent=2))
    finally:
        if agent is not None:
            agent.stop()
        vrm.stop()
        remove_libvirt_objects()
        shutil.rmtree(work, ignore_errors=True)
    return 0 if figures.get("met") else 1


if __name__ == "__main__":
    raise SystemExit(main())
