"""A two-host lab for migration tests and benchmarks: one VRM process on the lab bridge,
one agent per lab host (each with its own libvirtd and Open vSwitch), a DVS with a VLAN
port group and an IP pool, and a shared datastore attached to both hosts."""

from __future__ import annotations

import contextlib
import os
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import libvirt

from tests.e2e.processes import (
    ADMIN_PASSWORD,
    BIN,
    Process,
    free_port,
    start_vrm,
    wait_until,
)
from tests.e2e.vmlab import run, wait_task
from tests.lab.hosts import ROOT_ADDRESS, Host, lab_hosts

AGENT_PORT = 7070
# Migrations between lab hosts go over TCP without authentication (test only).
VRM_SETTINGS = {
    "VRM_HOST_FAULT_AFTER": "30",
    "VRM_JOBS_INTERVAL_S": "0.5",
    "VRM_MIGRATION_LIBVIRT_URI": "qemu+tcp://{address}/system",
    # A VRM killed mid-task is taken over quickly by the next one.
    "VRM_TASK_STALE_AFTER_S": "6",
    # One migration at a time per host and direction, so the limit is easy to reach.
    "VRM_MIGRATION_MAX_OUTGOING": "1",
    "VRM_MIGRATION_MAX_INCOMING": "1",
}
PREFIX = "ovrmlab-"


@dataclass
class Lab:
    """The VRM, its admin client, the hosts with their agents and what VMs need."""

    workdir: Path
    hosts: list[Host]
    vrm: Process
    port: int
    admin: httpx.Client
    host_ids: list[str] = field(default_factory=list)
    agents: list[subprocess.Popen[bytes]] = field(default_factory=list)
    cluster: str = ""
    group: str = ""
    shared: str = ""
    bridge: str = ""
    settings: dict[str, str] = field(default_factory=dict)

    def restart_vrm(self) -> None:
        """Kill VRM with SIGKILL and start it again on the same database and port."""
        self.vrm.kill()
        self.vrm = start_vrm(self.workdir, self.port, bind=ROOT_ADDRESS, **self.settings)
        self.admin.close()
        self.admin = _client(self.vrm)

    def conn(self, index: int) -> libvirt.virConnect:
        """A libvirt connection to a host's daemon."""
        return libvirt.open(self.hosts[index].libvirt_uri)

    def host_index(self, host_id: str) -> int:
        return self.host_ids.index(host_id)

    def vm_body(self, name: str, **extra: Any) -> dict[str, Any]:
        """A small TCG VM on the shared datastore with a filtered NIC on the VLAN group."""
        return {
            "name": f"{PREFIX}{name}",
            "cluster_id": self.cluster,
            "vcpus": 1,
            "memory_mib": 64,
            "disks": [{"size_mib": 16, "datastore_id": self.shared}],
            "nics": [{"port_group_id": self.group}],
            "power_on": True,
            **extra,
        }

    def make_vm(self, name: str, **extra: Any) -> dict[str, Any]:
        created = self.admin.post("/vms", json=self.vm_body(name, **extra))
        task = run(self.admin, created)
        assert task["state"] == "succeeded", task
        vm: dict[str, Any] = self.admin.get(f"/vms/{created.json()['vm']['id']}").json()
        return vm

    def remove_vm(self, vm_id: str) -> None:
        """Stop (at once) and delete a VM, whatever state it is in."""
        vm = self.admin.get(f"/vms/{vm_id}")
        if vm.status_code == 404:
            return
        if vm.json()["state"] in ("running", "paused"):
            stop = self.admin.post(f"/vms/{vm_id}/actions/stop", json={"mode": "poweroff"})
            if stop.status_code == 202:
                wait_task(self.admin, stop.json()["task"]["id"])
        gone = self.admin.delete(f"/vms/{vm_id}")
        if gone.status_code == 202:
            wait_task(self.admin, gone.json()["task"]["id"])


def _client(vrm: Process) -> httpx.Client:
    """An httpx client logged in to ``vrm`` as admin (the caller closes it)."""
    client = httpx.Client(base_url=vrm.url + "/api/v1", timeout=60)
    token = client.post("/auth/token", data={"username": "admin", "password": ADMIN_PASSWORD})
    assert token.status_code == 200, token.text
    client.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
    return client


@contextlib.contextmanager
def migration_lab(workdir: Path, **vrm_settings: str) -> Iterator[Lab]:
    """Two hosts enrolled into one VRM, networks and a shared datastore ready; all of it
    removed afterwards."""
    settings = {**VRM_SETTINGS, **vrm_settings}
    with lab_hosts(2, workdir) as hosts:
        port = free_port()
        vrm = start_vrm(workdir, port, bind=ROOT_ADDRESS, **settings)
        lab = Lab(workdir, hosts, vrm, port, _client(vrm), settings=settings)
        try:
            _enroll(lab)
            _networks(lab)
            _shared_datastore(lab)
            yield lab
        finally:
            for agent in lab.agents:
                agent.terminate()
            for agent in lab.agents:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    agent.wait(timeout=15)
            lab.admin.close()
            lab.vrm.stop()


def _enroll(lab: Lab) -> None:
    admin = lab.admin
    cluster = admin.post("/clusters", json={"name": "lab", "cpu_overcommit": 4}).json()
    lab.cluster = cluster["id"]
    for host in lab.hosts:
        token = admin.post("/enrollment-tokens", json={"cluster_id": lab.cluster}).json()
        state = host.local_mount / "state"
        env = {
            **os.environ,
            "CNA_LIBVIRT_URI": "qemu:///system",
            "CNA_STATE_DIR": str(state),
            "CNA_POOL_DIR": str(host.local_mount / "pool"),
            "CNA_DEFAULT_POOL": f"{PREFIX}local",
            "CNA_HOSTNAME": host.name,
            "CNA_MANAGEMENT_ADDRESS": host.address,
            "CNA_HEARTBEAT_S": "1",
            "CNA_LOG_LEVEL": "info",
        }
        args = [
            str(BIN / "cna-agent"),
            "run",
            "--vrm-url",
            f"http://{ROOT_ADDRESS}:{lab.port}",
            "--listen",
            f"{host.address}:{AGENT_PORT}",
            "--enroll-token",
            token["token"],
        ]
        log = (lab.workdir / f"agent-{host.name}.log").open("ab")
        lab.agents.append(host.popen(args, env=env, stdout=log, stderr=subprocess.STDOUT))
        log.close()
    hosts = wait_until(
        lambda: _all_normal(lab.admin, len(lab.hosts)), timeout_s=60, what="both hosts normal"
    )
    by_name = {h["name"]: h["id"] for h in hosts}
    lab.host_ids = [by_name[host.name] for host in lab.hosts]


def _all_normal(admin: httpx.Client, count: int) -> list[dict[str, Any]] | None:
    hosts: list[dict[str, Any]] = admin.get("/hosts", params={"state": "normal"}).json()["items"]
    return hosts if len(hosts) == count else None


def _networks(lab: Lab) -> None:
    admin = lab.admin
    lab.bridge = f"ovl{uuid.uuid4().hex[:8]}"
    dvs = admin.post("/dvs", json={"name": "lab-dvs", "bridge": lab.bridge}).json()
    group = admin.post(
        "/port-groups", json={"name": "v100", "dvs_id": dvs["id"], "vlan_id": 100}
    ).json()
    lab.group = group["id"]
    pool = admin.post(
        "/ip-pools",
        json={
            "name": "lab-p100",
            "port_group_id": lab.group,
            "cidr": "10.100.0.0/24",
            "gateway": "10.100.0.1",
            "ranges": [{"start": "10.100.0.10", "end": "10.100.0.200"}],
        },
    )
    assert pool.status_code == 201, pool.text

    def synced() -> bool:
        params = {"type": "host.sync_networks", "limit": 100}
        tasks = admin.get("/tasks", params=params).json()["items"]
        return bool(tasks) and all(t["state"] == "succeeded" for t in tasks)

    wait_until(synced, timeout_s=90, what="the hosts' network syncs")


def _shared_datastore(lab: Lab) -> None:
    admin = lab.admin
    store = admin.post(
        "/datastores",
        json={"name": "lab-shared", "type": "shared_dir", "source": str(lab.hosts[0].shared_dir)},
    )
    assert store.status_code == 201, store.text
    lab.shared = store.json()["id"]
    for host_id in lab.host_ids:
        attached = admin.post(f"/datastores/{lab.shared}/hosts", json={"host_id": host_id})
        assert attached.status_code == 202, attached.text
        task = wait_task(admin, attached.json()["id"])
        assert task["state"] == "succeeded", task
