"""``POST /api/v1/vms`` → running on a real TCG guest, against raw libvirt define + start.

Needs root and a running libvirtd (``make services``). Starts ``vrm serve`` (SQLite) and
one ``cna-agent`` on ``qemu:///system``, then ``--runs`` times: creates a VM with one
64 MiB disk and ``power_on`` through the API and polls it (every 10 ms) until it is
``running``. The raw figure is the same domain (its XML as the agent defined it, under a
new name and uuid, on a copy of its disk) defined and started with libvirt's Python
binding, no VRM or agent in between. The difference is what VRM and the agent add.

    .venv/bin/python -m bench.vm_create [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import httpx
import libvirt

from bench.lab import PREFIX, admin_client, remove_libvirt_objects, start_node
from tests.e2e.processes import Process, start_vrm

TARGET_OVERHEAD_S = 0.3


def through_vrm(admin: httpx.Client, cluster_id: str, number: int) -> tuple[float, str]:
    """Seconds from POST /vms to ``running``; the VM's uuid."""
    body = {
        "name": f"{PREFIX}{number}",
        "cluster_id": cluster_id,
        "vcpus": 1,
        "memory_mib": 128,
        "disks": [{"size_mib": 64}],
        "power_on": True,
    }
    started = time.perf_counter()
    answer = admin.post("/vms", json=body)
    assert answer.status_code == 202, answer.text
    vm = answer.json()["vm"]
    while admin.get(f"/vms/{vm['id']}").json()["state"] != "running":
        if time.perf_counter() - started > 60:
            raise RuntimeError(f"VM {vm['name']} not running after 60 s")
        time.sleep(0.01)
    return time.perf_counter() - started, str(vm["uuid"])


def raw(conn: libvirt.virConnect, template: str, workdir: Path) -> float:
    """Seconds to define and start a copy of the domain ``template`` with libvirt."""
    tree = ET.fromstring(template)
    name = f"{PREFIX}raw-{uuid.uuid4().hex[:6]}"
    tree.find("name").text = name  # type: ignore[union-attr]
    tree.find("uuid").text = str(uuid.uuid4())  # type: ignore[union-attr]
    for source in tree.iter("source"):
        if "file" in source.attrib:
            copy = workdir / f"{name}.qcow2"
            shutil.copy(source.attrib["file"], copy)
            copy.chmod(0o666)
            source.attrib["file"] = str(copy)
    for tag in ("seclabel",):
        for node in tree.findall(tag):
            tree.remove(node)
    xml = ET.tostring(tree, encoding="unicode")
    started = time.perf_counter()
    domain = conn.defineXML(xml)
    domain.create()
    elapsed = time.perf_counter() - started
    domain.destroy()
    domain.undefine()
    return elapsed


def main(argv: list[str] | None = None) -> int:
    """Run, print the figures as JSON; exit 1 when the target is missed."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix=PREFIX, dir="/var/tmp"))
    work.chmod(0o755)
    vrm = start_vrm(work)
    agent: Process | None = None
    conn = libvirt.open("qemu:///system")
    figures: dict[str, Any] = {}
    try:
        admin = admin_client(vrm)
        cluster = admin.post(
            "/clusters", json={"name": "bench", "cpu_overcommit": 16, "mem_overcommit": 4}
        ).json()
        agent = start_node(work, vrm, admin, cluster["id"])
        through, raws, uuids = [], [], []
        for number in range(args.runs + 1):
            seconds, vm_uuid = through_vrm(admin, cluster["id"], number)
            uuids.append(vm_uuid)
            template = conn.lookupByUUIDString(vm_uuid).XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
            raw_s = raw(conn, template, work)
            if number:  # the first of each is a warm-up
                through.append(seconds)
                raws.append(raw_s)
        overhead = statistics.median(through) - statistics.median(raws)
        figures = {
            "runs": args.runs,
            "through_vrm_s": [round(s, 3) for s in through],
            "raw_define_start_s": [round(s, 3) for s in raws],
            "median_through_vrm_s": round(statistics.median(through), 3),
            "median_raw_s": round(statistics.median(raws), 3),
            "overhead_s": round(overhead, 3),
            "target_s": TARGET_OVERHEAD_S,
            "met": overhead <= TARGET_OVERHEAD_S,
        }
        print(json.dumps(figures, indent=2))
    finally:
        if agent is not None:
            agent.stop()
        vrm.stop()
        conn.close()
        remove_libvirt_objects()
        shutil.rmtree(work, ignore_errors=True)
    return 0 if figures.get("met") else 1


if __name__ == "__main__":
    raise SystemExit(main())
