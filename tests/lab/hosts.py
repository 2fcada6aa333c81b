"""N "hosts" on this machine, each with its own libvirtd and Open vSwitch, for migration tests.

    with lab_hosts(2, workdir) as hosts:
        hosts[0].libvirt_uri      # qemu+tcp://10.213.0.11/system, reachable from here
        hosts[0].run(["virsh", "-c", "qemu:///system", "list"])

A host is three namespaces kept alive by a holder process (``sleep infinity``):
- network ``ovrmlab-hN``: ``eth0`` (10.213.0.(10+N)/24) on the root namespace's Linux
  bridge ``ovrmlab0`` (10.213.0.1/24), and ``data0``, an empty uplink on the bridge
  ``ovrmlab1`` for the host's OVS bridges: VLAN-tagged frames cross between hosts there;
- mount: its own /etc/libvirt, /var/lib/libvirt, /var/cache/libvirt, /var/log/libvirt,
  /etc/openvswitch, /var/log/openvswitch (folders of ``<workdir>/ovrmlab-hN/``), tmpfs on
  /run/libvirt and /run/openvswitch, its own /etc/hosts and an empty file over /dev/kvm;
- UTS: the hostname ``ovrmlab-hN``.
Inside run ovsdb-server, ovs-vswitchd (userspace datapath) and ``libvirtd -l`` (TCP
without authentication on the host's address, its own host UUID). Every command given to
``Host.run``/``Host.popen`` enters the host's namespaces with ``nsenter``.

Folders: ``/var/tmp/ovrmlab-<bed>-hN`` (``local_dir``, the host's own),
``/var/tmp/ovrmlab-<bed>-shared`` (seen by every host at that path) and
``/var/tmp/ovrmlab-<bed>-local``, where each host sees its own ``local_dir``: a disk
there has the same path on every host but is not shared, like a node's local datastore.

One bed at a time: a lock (``/run/ovrmlab.lock``) is held while it runs; a bed left by a
killed run is removed at the next start. Teardown destroys the guests through each
libvirtd, kills every process of the hosts' namespaces and removes links and folders.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from tests.lab import hostconf, teardown

log = logging.getLogger(__name__)

SUBNET = "10.213.0"
ROOT_ADDRESS = f"{SUBNET}.1"
BRIDGE = "ovrmlab0"
DATA_BRIDGE = "ovrmlab1"
LIBVIRT_PORT = 16509
LOCK_PATH = Path("/run/ovrmlab.lock")
MAX_HOSTS = 9
START_TIMEOUT_S = 60.0
TOOLS = {
    "unshare": "util-linux",
    "nsenter": "util-linux",
    "ip": "iproute2",
    "libvirtd": "libvirt-daemon-system",
    "virsh": "libvirt-clients",
    "ovsdb-server": "openvswitch-switch",
    "ovsdb-tool": "openvswitch-switch",
    "ovs-vswitchd": "openvswitch-switch",
    "ovs-vsctl": "openvswitch-switch",
}
# Destroy every running guest of the host through its own libvirtd.
_DESTROY_ALL = (
    "for d in $(virsh -c qemu:///system list --name); do "
    'virsh -c qemu:///system destroy "$d" >/dev/null; done'
)
# An ICMP echo with a raw socket: this machine has no ping binary.
_PING = """
import socket, struct, sys
def csum(b):
    t = sum(struct.unpack(f"!{len(b) // 2}H", b)); t = (t >> 16) + (t & 0xFFFF)
    return ~(t + (t >> 16)) & 0xFFFF
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP); s.settimeout(2)
body = b"ovrmlab!"; head = struct.pack("!BBHHH", 8, 0, 0, 7, 1)
s.sendto(struct.pack("!BBHHH", 8, 0, csum(head + body), 7, 1) + body, (sys.argv[1], 0))
while True:
    data, (peer, _) = s.recvfrom(128)
    if peer == sys.argv[1] and data[20] == 0: break
"""


class LabError(RuntimeError):
    """The bed cannot be set up on this machine, or a host did not come up."""


@dataclass
class Host:
    """One lab host: its namespaces, address, daemons and folders."""

    index: int
    bed: str
    address: str
    host_uuid: str
    state_dir: Path
    local_dir: Path
    local_mount: Path
    shared_dir: Path
    holder_pid: int = 0
    uplink: str = "data0"
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list, repr=False)

    @property
    def name(self) -> str:
        """Network namespace, hostname and root-side veth: ``ovrmlab-hN``."""
        return f"ovrmlab-h{self.index}"

    @property
    def libvirt_uri(self) -> str:
        """The host's libvirtd as seen from the root namespace or another host."""
        return f"qemu+tcp://{self.address}/system"

    @property
    def migration_uri(self) -> str:
        """The URI QEMU's migration stream should use to reach this host."""
        return f"tcp://{self.address}"

    def nsenter(self, cwd: str | Path | None = None) -> list[str]:
        """The command prefix that runs a program inside this host, in ``cwd`` (default:
        ours; entering a mount namespace would otherwise move it to /)."""
        wd = f"--wd={cwd or os.getcwd()}"
        return ["nsenter", "-t", str(self.holder_pid), "-m", "-n", "-u", wd, "--"]

    def run(
        self, args: Sequence[str], *, check: bool = True, timeout: float = 60, **kwargs: Any
    ) -> subprocess.CompletedProcess[str]:
        """Run a command inside the host and return its (text) output."""
        kwargs.setdefault("capture_output", True)
        prefix = self.nsenter(kwargs.pop("cwd", None))
        done = subprocess.run([*prefix, *args], check=False, timeout=timeout, text=True, **kwargs)
        if check and done.returncode != 0:
            raise LabError(f"{self.name}: {' '.join(args)} failed: {done.stderr or done.stdout}")
        return done

    def popen(self, args: Sequence[str], **kwargs: Any) -> subprocess.Popen[Any]:
        """Start a long-running process inside the host (the bed kills it at teardown)."""
        return subprocess.Popen([*self.nsenter(kwargs.pop("cwd", None)), *args], **kwargs)

    def ping(self, address: str) -> bool:
        """Whether ``address`` answers an ICMP echo sent from this host."""
        done = self.run([sys.executable, "-c", _PING, address], check=False, timeout=10)
        return done.returncode == 0

    def path(self, inside: str) -> Path:
        """Where a path of the host's mount namespace is, seen from the root namespace."""
        return Path(f"/proc/{self.holder_pid}/root") / inside.lstrip("/")


def require_tools() -> None:
    """Fail with a clear message when a tool the bed needs is missing or we are not root."""
    if os.geteuid() != 0:
        raise LabError("the lab bed needs root (namespaces, mounts, links)")
    missing = [f"{tool} ({pkg})" for tool, pkg in TOOLS.items() if shutil.which(tool) is None]
    if missing:
        raise LabError("the lab bed needs these tools (Debian package): " + ", ".join(missing))
    if not hostconf.OVS_SCHEMA.exists():
        raise LabError(f"{hostconf.OVS_SCHEMA} is missing (package openvswitch-common)")


@contextlib.contextmanager
def lab_hosts(count: int, workdir: Path) -> Iterator[list[Host]]:
    """Bring up ``count`` hosts (state and logs below ``workdir``); remove them afterwards."""
    if not 1 <= count <= MAX_HOSTS:
        raise LabError(f"a bed has 1 to {MAX_HOSTS} hosts, not {count}")
    require_tools()
    with _exclusive():
        teardown.cleanup_leftovers()
        hosts = _plan(count, workdir)
        try:
            started = time.monotonic()
            _start(hosts)
            log.info("lab bed of %d hosts up in %.1f s", count, time.monotonic() - started)
            yield hosts
        finally:
            _stop(hosts)


@contextlib.contextmanager
def _exclusive() -> Iterator[None]:
    """Hold the bed lock; the kernel drops it when this process dies, however it dies."""
    with LOCK_PATH.open("a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            owner = lock.read().strip() or "unknown"
            raise LabError(f"another lab bed is running (pid {owner})") from None
        lock.truncate(0)
        lock.write(str(os.getpid()))
        lock.flush()
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _plan(count: int, workdir: Path) -> list[Host]:
    bed = f"ovrmlab-{secrets.token_hex(3)}"
    root = teardown.VAR_TMP
    return [
        Host(
            index=n,
            bed=bed,
            address=f"{SUBNET}.{10 + n}",
            host_uuid=str(uuid.uuid4()),
            state_dir=workdir / f"ovrmlab-h{n}",
            local_dir=root / f"{bed}-h{n}",
            local_mount=root / f"{bed}-local",
            shared_dir=root / f"{bed}-shared",
        )
        for n in range(1, count + 1)
    ]


def _start(hosts: list[Host]) -> None:
    _make_folders(hosts)
    _make_network(hosts)
    for host in hosts:
        shutil.rmtree(host.state_dir, ignore_errors=True)
        host.state_dir.mkdir(parents=True)
        hostconf.write_state(host, hosts, ROOT_ADDRESS)
        _start_holder(host)
    with ThreadPoolExecutor(len(hosts)) as pool:
        list(pool.map(_start_daemons, hosts))


def _make_folders(hosts: list[Host]) -> None:
    first = hosts[0]
    for folder in (first.shared_dir, first.local_mount, *(h.local_dir for h in hosts)):
        folder.mkdir()
        # QEMU runs as libvirt-qemu: it must read what tests put there.
        folder.chmod(0o755)


def _make_network(hosts: list[Host]) -> None:
    root = [
        f"link add {BRIDGE} type bridge",
        f"addr add {ROOT_ADDRESS}/24 dev {BRIDGE}",
        f"link set {BRIDGE} up",
        f"link add {DATA_BRIDGE} type bridge",
        f"link set {DATA_BRIDGE} up",
    ]
    for host in hosts:
        data_end = f"{host.name}d"
        root += [
            f"netns add {host.name}",
            f"link add {host.name} type veth peer name eth0 netns {host.name}",
            f"link set {host.name} master {BRIDGE} up",
            f"link add {data_end} type veth peer name {host.uplink} netns {host.name}",
            f"link set {data_end} master {DATA_BRIDGE} up",
        ]
    _ip_batch([], root)
    for host in hosts:
        inside = [
            "link set lo up",
            f"addr add {host.address}/24 dev eth0",
            "link set eth0 up",
            f"link set {host.uplink} up",
        ]
        _ip_batch(["-n", host.name], inside)


def _ip_batch(options: list[str], commands: list[str]) -> None:
    done = subprocess.run(
        ["ip", *options, "-batch", "-"],
        input="\n".join(commands) + "\n",
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise LabError(f"ip {' '.join(options)} -batch failed: {done.stderr.strip()}")


def _start_holder(host: Host) -> None:
    """The process that keeps the host's mount and UTS namespaces (and enters its netns)."""
    script = hostconf.holder_script(host)
    argv = ["ip", "netns", "exec", host.name, "unshare", "-m", "-u", "--propagation", "private"]
    proc = _spawn(host, [*argv, "sh", "-c", script], "holder")
    host.holder_pid = proc.pid
    _wait(host, proc, lambda: _comm(proc.pid) == "sleep", "its namespaces")


def _start_daemons(host: Host) -> None:
    """OVS and libvirtd inside the host, ready to use when this returns."""
    db = _spawn(host, [*host.nsenter(), *_ovsdb_server_args()], "ovsdb-server")
    libvirtd = _spawn(host, [*host.nsenter(), *_libvirtd_args()], "libvirtd")
    _wait(host, db, host.path("/run/openvswitch/db.sock").exists, "ovsdb-server")
    host.run(["ovs-vsctl", "--no-wait", "init"])
    vswitchd = _spawn(host, [*host.nsenter(), *_vswitchd_args()], "ovs-vswitchd")
    # Without --no-wait, ovs-vsctl returns once ovs-vswitchd has applied the change.
    host.run(["ovs-vsctl", "--timeout=30", "set", "Open_vSwitch", ".", _system_id(host)])
    _wait(host, vswitchd, lambda: True, "ovs-vswitchd")
    _wait(host, libvirtd, lambda: _listening(host.address, LIBVIRT_PORT), "libvirtd")
    # The first QEMU call probes the emulator (or checks the seeded cache): do it now.
    host.run(["virsh", "-c", "qemu:///system", "domcapabilities"], timeout=START_TIMEOUT_S)


def _libvirtd_args() -> list[str]:
    # The default pid file, /run/libvirtd.pid, is the main daemon's.
    return ["libvirtd", "--listen", "--pid-file", "/run/libvirt/libvirtd.pid"]


def _ovsdb_server_args() -> list[str]:
    return [
        "ovsdb-server",
        "/etc/openvswitch/conf.db",
        "--remote=punix:/run/openvswitch/db.sock",
        "--pidfile",
        "--log-file=/var/log/openvswitch/ovsdb-server.log",
    ]


def _vswitchd_args() -> list[str]:
    return ["ovs-vswitchd", "--pidfile", "--log-file=/var/log/openvswitch/ovs-vswitchd.log"]


def _system_id(host: Host) -> str:
    return f"external_ids:system-id={host.name}"


def _spawn(host: Host, argv: list[str], what: str) -> subprocess.Popen[bytes]:
    out: IO[bytes]
    with (host.state_dir / f"{what}.out").open("ab") as out:
        proc = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    host.procs.append(proc)
    return proc


def _wait(host: Host, proc: subprocess.Popen[bytes], ready: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while not ready():
        if proc.poll() is not None:
            raise LabError(f"{host.name}: {what} exited ({proc.returncode}); see {host.state_dir}")
        if time.monotonic() > deadline:
            raise LabError(f"{host.name}: {what} not ready after {START_TIMEOUT_S:g} s")
        time.sleep(0.05)


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def _listening(address: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex((address, port)) == 0


def _stop(hosts: list[Host]) -> None:
    """Destroy the guests, kill every process of the hosts and remove links and folders."""
    for host in hosts:
        if host.holder_pid and _comm(host.holder_pid) == "sleep":
            with contextlib.suppress(subprocess.TimeoutExpired):
                host.run(["sh", "-c", _DESTROY_ALL], check=False, timeout=30)
    try:
        teardown.remove_all(teardown.netns_names(), teardown.link_names(), teardown.folders())
    finally:
        for proc in (p for h in hosts for p in h.procs):
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)
    if left := teardown.leftovers():
        raise LabError(f"the bed left {', '.join(left)}")
