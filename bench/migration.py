"""Live migration through VRM against raw ``virsh migrate --live --p2p``, and the
maintenance plan of a host with 50 VMs.

Needs root, libvirtd and Open vSwitch (``make services``). Brings up the two-host lab of
the migration tests (``tests.migration.lab``: its own libvirtd, OVS and network namespace
per host, one VRM, one agent per host, a shared datastore), then:

1. ``--runs`` times, alternately each way: a running 128 MiB TCG guest (disk on the
   shared datastore) live-migrated through VRM, timed from ``POST .../migrate`` until the
   task has succeeded (polled every 10 ms), with the downtime libvirt reports; and the
   same guest's twin (its domain XML under a new name and uuid, its own copy of the disk)
   migrated with ``virsh migrate --live --p2p --persistent --undefinesource`` run on the
   source host with the same explicit ``tcp://`` migration URI. The difference of the
   medians is what VRM and the agents add.
2. 50 stopped VMs recorded on one host (rows in VRM's database: "simulated", they have no
   domain) and the time of ``enter-maintenance`` with ``dry_run``.

    .venv/bin/python -m bench.migration [--runs 9]
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

import libvirt
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from tests.migration.lab import Lab, migration_lab
from vrm.models import Vm
from vrm.models.enums import VmState

TARGET_OVERHEAD_S = 0.5
TARGET_DRY_RUN_S = 5.0
SIMULATED_VMS = 50


def through_vrm(lab: Lab, vm_id: str, target: str) -> tuple[float, dict[str, Any]]:
    """Seconds from the request to the task's success; the migration's figures."""
    started = time.perf_counter()
    answer = lab.admin.post(f"/vms/{vm_id}/actions/migrate", json={"host_id": target})
    assert answer.status_code == 202, answer.text
    task_id = answer.json()["task"]["id"]
    while True:
        task = lab.admin.get(f"/tasks/{task_id}").json()
        if task["state"] == "succeeded":
            return time.perf_counter() - started, task["result"]["migration"]["result"]
        if task["state"] in ("failed", "cancelled"):
            raise RuntimeError(f"migration failed: {task['error_code']} {task['error_message']}")
        time.sleep(0.01)


def twin(lab: Lab, source: int, vm_uuid: str) -> str:
    """The VRM guest's domain defined and started again under a new name and uuid on its
    own copy of the disk; its uuid."""
    conn = lab.conn(source)
    try:
        dom = conn.lookupByUUIDString(vm_uuid)
        tree = ET.fromstring(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
        new = str(uuid.uuid4())
        tree.find("name").text = f"ovbench-twin-{new[:6]}"  # type: ignore[union-attr]
        tree.find("uuid").text = new  # type: ignore[union-attr]
        for disk in tree.iterfind("devices/disk[@device='disk']"):
            source_el = disk.find("source")
            assert source_el is not None
            copy = Path(source_el.get("file", "")).with_name(f"twin-{new[:8]}.qcow2")
            shutil.copyfile(source_el.get("file", ""), copy)
            copy.chmod(0o644)
            source_el.set("file", str(copy))
        conn.defineXML(ET.tostring(tree, encoding="unicode")).create()
        return new
    finally:
        conn.close()


def raw(lab: Lab, source: int, target: int, dom_uuid: str) -> float:
    """Seconds of ``virsh migrate --live --p2p`` run on the source host."""
    dest = lab.hosts[target]
    args = [
        "virsh", "-c", "qemu:///system", "migrate", "--live", "--p2p", "--persistent",
        "--undefinesource", "--unsafe", dom_uuid, dest.libvirt_uri, dest.migration_uri,
    ]  # fmt: skip
    started = time.perf_counter()
    lab.hosts[source].run(args, timeout=120)
    return time.perf_counter() - started


def simulated_dry_run(lab: Lab, host_index: int) -> tuple[float, int]:
    """Seconds of the maintenance plan of a host given 50 simulated stopped VMs; VMs planned."""
    engine = create_engine(f"sqlite:///{lab.workdir / 'vrm.db'}")
    host_id = uuid.UUID(lab.host_ids[host_index])
    with Session(engine) as session:
        for number in range(SIMULATED_VMS):
            session.add(
                Vm(
                    cluster_id=uuid.UUID(lab.cluster),
                    host_id=host_id,
                    name=f"ovbench-sim-{number:03d}",
                    vcpus=1,
                    max_vcpus=1,
                    memory_mib=64,
                    max_memory_mib=64,
                    state=VmState.STOPPED,
                )
            )
        session.commit()
    engine.dispose()
    started = time.perf_counter()
    answer = lab.admin.post(
        f"/hosts/{host_id}/actions/enter-maintenance", json={"dry_run": True}, timeout=120
    )
    elapsed = time.perf_counter() - started
    assert answer.status_code == 200, answer.text
    return elapsed, len(answer.json()["vms"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="ovbench-migration-"))
    try:
        with migration_lab(workdir, VRM_LOG_LEVEL="warning") as lab:
            report = run(lab, args.runs)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(json.dumps(report, indent=2))


def run(lab: Lab, runs: int) -> dict[str, Any]:
    vm = lab.make_vm("bench", memory_mib=128, nics=[])
    here = lab.host_index(vm["host_id"])
    copy = twin(lab, here, vm["uuid"])
    vrm_s: list[float] = []
    raw_s: list[float] = []
    downtime: list[int] = []
    for _ in range(runs):
        there = 1 - here
        seconds, figures = through_vrm(lab, vm["id"], lab.host_ids[there])
        vrm_s.append(seconds)
        if figures.get("downtime_ms") is not None:
            downtime.append(int(figures["downtime_ms"]))
        raw_s.append(raw(lab, here, there, copy))
        here = there
    dry_s, planned = simulated_dry_run(lab, here)
    overhead = statistics.median(vrm_s) - statistics.median(raw_s)
    return {
        "runs": runs,
        "vrm_s": [round(s, 3) for s in vrm_s],
        "raw_virsh_s": [round(s, 3) for s in raw_s],
        "vrm_median_s": round(statistics.median(vrm_s), 3),
        "raw_median_s": round(statistics.median(raw_s), 3),
        "overhead_s": round(overhead, 3),
        "overhead_target_s": TARGET_OVERHEAD_S,
        "downtime_ms": downtime,
        "dry_run_vms": planned,
        "dry_run_s": round(dry_s, 3),
        "dry_run_target_s": TARGET_DRY_RUN_S,
        "targets_met": overhead <= TARGET_OVERHEAD_S and dry_s <= TARGET_DRY_RUN_S,
    }


if __name__ == "__main__":
    main()
