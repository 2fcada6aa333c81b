"""The files that make a lab host: libvirt and OVS configuration, its mounts and /etc/hosts.

Each host keeps its state below ``<workdir>/<host name>/``; the holder process of its
mount namespace mounts those folders over the system paths, so the host's libvirtd and
Open vSwitch see only their own configuration, state, sockets and logs.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.lab.hosts import Host

# Folders of the state directory and the system path each one is mounted over.
BIND_MOUNTS = (
    ("etc-libvirt", "/etc/libvirt"),
    ("lib-libvirt", "/var/lib/libvirt"),
    ("cache-libvirt", "/var/cache/libvirt"),
    ("log-libvirt", "/var/log/libvirt"),
    ("etc-openvswitch", "/etc/openvswitch"),
    ("log-openvswitch", "/var/log/openvswitch"),
)
# Runtime folders (sockets, pid files) start empty on every host.
TMPFS_MOUNTS = ("/run/libvirt", "/run/openvswitch")
OVS_SCHEMA = Path("/usr/share/openvswitch/vswitch.ovsschema")
# Filters as the package ships them; /etc/libvirt/nwfilter also holds the main daemon's own.
PACKAGE_NWFILTERS = Path("/usr/share/libvirt/nwfilter")
# QEMU capabilities probed by the main daemon, which sees the same binaries and the same
# hidden /dev/kvm: a valid copy saves each host's libvirtd a probe of a few seconds,
# and libvirt probes again by itself when it finds a copy stale.
CAPS_CACHE = Path("/var/cache/libvirt/qemu/capabilities")
FIRST_MIGRATION_PORT = 49152


def libvirtd_conf(host: Host) -> str:
    """libvirtd.conf: plain TCP without authentication (test only) on the host's address."""
    return (
        "listen_tls = 0\n"
        "listen_tcp = 1\n"
        f'listen_addr = "{host.address}"\n'
        'auth_tcp = "none"\n'
        f'host_uuid = "{host.host_uuid}"\n'
        'log_outputs = "3:file:/var/log/libvirt/libvirtd.log"\n'
    )


def qemu_conf(host: Host) -> str:
    """qemu.conf: no virtlogd, cgroups or per-guest namespaces; migration on the host's address."""
    low = FIRST_MIGRATION_PORT + 100 * host.index
    return (
        'stdio_handler = "file"\n'
        "cgroup_controllers = [ ]\n"
        "namespaces = [ ]\n"
        "remember_owner = 0\n"
        f'migration_address = "{host.address}"\n'
        f'migration_host = "{host.address}"\n'
        f"migration_port_min = {low}\n"
        f"migration_port_max = {low + 63}\n"
    )


def etc_hosts(hosts: Sequence[Host], root_address: str) -> str:
    """/etc/hosts of every host: each host and the root namespace by name."""
    lines = ["127.0.0.1 localhost", f"{root_address} ovrmlab-root"]
    lines += [f"{h.address} {h.name}" for h in hosts]
    return "\n".join(lines) + "\n"


def write_state(host: Host, hosts: Sequence[Host], root_address: str) -> None:
    """Create the host's state directory: configuration, empty state folders, OVS database."""
    state = host.state_dir
    for folder, _ in BIND_MOUNTS:
        (state / folder).mkdir(parents=True, exist_ok=True)
    _libvirt_etc(state / "etc-libvirt", host)
    _seed_caps_cache(state / "cache-libvirt")
    (state / "hosts").write_text(etc_hosts(hosts, root_address))
    (state / "no-kvm").touch()
    db = state / "etc-openvswitch" / "conf.db"
    subprocess.run(["ovsdb-tool", "create", str(db), str(OVS_SCHEMA)], check=True)


def _libvirt_etc(etc: Path, host: Host) -> None:
    for conf in Path("/etc/libvirt").glob("*.conf"):
        shutil.copy(conf, etc / conf.name)
    (etc / "libvirtd.conf").write_text(libvirtd_conf(host))
    (etc / "qemu.conf").write_text(qemu_conf(host))
    for folder in ("qemu/networks/autostart", "storage/autostart", "secrets", "hooks"):
        (etc / folder).mkdir(parents=True, exist_ok=True)
    if PACKAGE_NWFILTERS.is_dir():
        shutil.copytree(PACKAGE_NWFILTERS, etc / "nwfilter")


def _seed_caps_cache(cache: Path) -> None:
    if CAPS_CACHE.is_dir():
        shutil.copytree(CAPS_CACHE, cache / "qemu" / "capabilities")


def holder_script(host: Host) -> str:
    """The shell script that sets up the host's mount and UTS namespace, then waits forever."""
    steps = [f"hostname {host.name}"]
    for folder, target in BIND_MOUNTS:
        steps.append(_bind(host.state_dir / folder, target))
    steps += [f"mount -t tmpfs -o mode=0755 ovrmlab {target}" for target in TMPFS_MOUNTS]
    steps.append(_bind(host.state_dir / "hosts", "/etc/hosts"))
    if Path("/dev/kvm").exists():
        # The KVM trap (docs in LAB.md): a node libvirt cannot use makes every call slow.
        steps.append(_bind(host.state_dir / "no-kvm", "/dev/kvm"))
    steps.append(_bind(host.local_dir, str(host.local_mount)))
    return " && ".join(steps) + " && exec sleep infinity"


def _bind(source: Path, target: str) -> str:
    return f"mount --bind {shlex.quote(str(source))} {shlex.quote(target)}"
