"""The node as the agent's API sees it: one facade over the libvirt wall."""

from __future__ import annotations

import socket
import threading
from pathlib import Path
from urllib.parse import urlsplit
from uuid import UUID

from cna_agent import __version__
from cna_agent.config import Settings
from cna_agent.errors import NotFound, StateConflict
from cna_agent.migrations import Migrations
from cna_agent.operations import Operations
from cna_agent.protocol import (
    ConsoleInfo,
    DiskSpec,
    DomainReport,
    DomainSpec,
    DomainState,
    DomainStats,
    HostFacts,
    HostUsage,
    MediaChange,
    NicSpec,
    PoolSpec,
)
from cna_agent.protocol.consoles import ConsoleType
from cna_agent.relay import ConsoleRelay
from cna_agent.seed import Seeds
from cna_agent.virt.connection import Hypervisor
from cna_agent.virt.domains import Domains
from cna_agent.virt.facts import host_facts
from cna_agent.virt.network import Networks
from cna_agent.virt.nwfilter import ensure_filters
from cna_agent.virt.plug import Plugs, Vlan
from cna_agent.virt.stats import UsageSampler, domain_stats
from cna_agent.virt.storage import Storage

# States in which a domain has live devices.
_LIVE = (DomainState.RUNNING, DomainState.PAUSED, DomainState.BLOCKED)


class Node:
    """Domains, storage, networks, facts and long operations of this compute node."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.hv = Hypervisor(settings.libvirt_uri)
        self.domains = Domains(self.hv)
        self.storage = Storage(self.hv)
        self.networks = Networks(self.hv)
        self.plugs = Plugs(self.networks.ovs)
        self.seeds = Seeds(Path(settings.state_dir) / "seeds")
        self.usage = UsageSampler(self.hv)
        self.operations = Operations()
        self.consoles = ConsoleRelay(self.domains)
        self.migrations = Migrations(self, Path(settings.state_dir) / "incoming")
        self._facts: HostFacts | None = None
        self._facts_lock = threading.Lock()
        # The latest samples of the stats loop (CNA_STATS_S); None until the first one.
        self.latest_usage: HostUsage | None = None
        self.latest_domain_stats: list[DomainStats] = []

    def sample_stats(self) -> None:
        """Take a usage and domain statistics sample (the stats loop calls this)."""
        self.latest_usage = self.usage.sample()
        self.latest_domain_stats = domain_stats(self.hv)

    def current_usage(self) -> HostUsage:
        """The latest usage sample, taking one if there is none yet."""
        if self.latest_usage is None:
            self.sample_stats()
        assert self.latest_usage is not None
        return self.latest_usage

    def close(self) -> None:
        """Finish running operations and close the libvirt connection."""
        self.operations.shutdown()
        self.hv.close()

    def facts(self, *, refresh: bool = False) -> HostFacts:
        """The node's facts (read once, then cached until ``refresh``)."""
        with self._facts_lock:
            if self._facts is None or refresh:
                facts = host_facts(
                    self.hv,
                    domain_type_setting=self.settings.domain_type,
                    agent_version=__version__,
                )
                if self.settings.hostname:
                    facts = facts.model_copy(update={"hostname": self.settings.hostname})
                self._facts = facts
            return self._facts

    def default_pool(self) -> PoolSpec:
        """The local datastore every node has."""
        name = self.settings.default_pool
        path = self.settings.pool_dir or Path(self.settings.state_dir) / "pools" / name
        return PoolSpec(name=name, path=str(path))

    def management_address(self) -> str:
        """The address VRM and console clients reach this node at."""
        if self.settings.management_address:
            return self.settings.management_address
        return guess_address(self.settings.vrm_url)

    def define(self, spec: DomainSpec) -> DomainReport:
        """Define or update a domain, resolving its disks to volume files and writing its
        cloud-init seed (or removing a seed it no longer has)."""
        facts = self.facts()
        if any(nic.ips for nic in spec.nics):
            ensure_filters(self.hv)
        seed_path = None
        if spec.seed is not None:
            seed_path = str(self.seeds.write(spec.uuid, spec.seed))
        else:
            self.seeds.remove(spec.uuid)
        return self.domains.define(
            spec,
            domain_type=facts.domain_type,
            resolve_disk=self.disk_path,
            host_mhz=facts.cpu_mhz,
            seed_path=seed_path,
        )

    def start(self, uuid: UUID) -> None:
        """Power on, plumbing the domain's filtered NICs first."""
        self._plug_all(uuid)
        self.domains.start(uuid)

    def revert_snapshot(self, uuid: UUID, name: str) -> DomainReport:
        """Go back to a snapshot; a running snapshot needs the filtered NICs' plumbing."""
        self._plug_all(uuid)
        self.domains.snapshot_revert(uuid, name)
        return self.domains.get(uuid)

    def _plug_all(self, uuid: UUID) -> None:
        for nic in self.domains.get(uuid).nics:
            if nic.ips:
                self.plug_nic(nic)

    def attach_nic(self, uuid: UUID, nic: NicSpec) -> DomainReport:
        """Attach a NIC (live when running; a filtered NIC is plumbed first)."""
        if nic.ips:
            ensure_filters(self.hv)
            if self.domains.get(uuid).state in _LIVE:
                self.plug_nic(nic)
        self.domains.attach_nic(uuid, nic)
        return self.domains.get(uuid)

    def update_nic(self, uuid: UUID, nic: NicSpec) -> DomainReport:
        """Change a NIC's bound addresses: its filter follows at once, live too."""
        report = self.domains.get(uuid)
        current = next((n for n in report.nics if n.mac == nic.mac), None)
        if current is None:
            raise NotFound(f"domain {uuid} has no NIC {nic.mac}", code="device_not_found")
        if bool(current.ips) != bool(nic.ips) and report.state in _LIVE:
            raise StateConflict(
                "a running NIC keeps or lacks its address filter; stop the domain to add or "
                "remove all of its addresses",
                code="nic_filter_change",
            )
        if nic.ips:
            ensure_filters(self.hv)
        self.domains.update_nic(uuid, nic)
        return self.domains.get(uuid)

    def detach_nic(self, uuid: UUID, mac: str) -> DomainReport:
        """Detach a NIC by MAC and remove its plumbing if it had any."""
        self.domains.detach_nic(uuid, mac)
        if self.plugs.exists(mac):
            self.plugs.unplug(mac)
        return self.domains.get(uuid)

    def plug_nic(self, nic: NicSpec) -> None:
        """Plumb a filtered NIC into its network's OVS bridge with its port group's VLAN."""
        network = self.networks.network(nic.network)
        group = next((g for g in network.port_groups if g.name == nic.portgroup), None)
        if nic.portgroup is not None and group is None:
            raise NotFound(
                f"network {nic.network} has no port group {nic.portgroup}",
                code="portgroup_not_found",
            )
        vlan = Vlan(group.vlan_id, tuple(group.trunk)) if group is not None else Vlan()
        self.plugs.plug(nic.mac, network.bridge, vlan, mtu=nic.mtu)

    def disk_path(self, disk: DiskSpec) -> str:
        """The file behind a disk's pool and volume."""
        return self.storage.volume_path(*_volume(disk))

    def change_media(self, uuid: UUID, device: str, media: MediaChange) -> DomainReport:
        """Insert an image volume into a CD-ROM, or eject it (no volume)."""
        if media.pool is None or media.volume is None:
            self.domains.change_media(uuid, device, None)
        else:
            image = self.storage.volume(media.pool, media.volume)
            fmt = "qcow2" if image.format == "qcow2" else "raw"  # an ISO probes as "iso"
            volume = (media.pool, media.volume)
            self.domains.change_media(uuid, device, image.path, volume=volume, fmt=fmt)
        return self.domains.get(uuid)

    def console(self, uuid: UUID) -> ConsoleInfo:
        """The consoles of a running domain, with the VNC viewers relayed now."""
        info = self.domains.console(uuid)
        viewers = self.consoles.viewers.count(uuid, ConsoleType.VNC)
        return info.model_copy(update={"viewers": viewers})

    def undefine(self, uuid: UUID, *, delete_volumes: bool) -> None:
        """Remove a stopped domain, and its disks' volumes when asked.

        Volumes that cannot go (they back linked clones) are refused before anything
        changes, so a failure leaves the domain and all its disks as they were.
        """
        if delete_volumes:
            for disk in self._own_disks(uuid):
                self.storage.check_deletable(*_volume(disk))
        report = self.report_or_none(uuid)
        filtered = [nic.mac for nic in report.nics if nic.ips] if report else []
        disks = self.domains.undefine(uuid)
        self.unplumb(uuid, filtered)
        if delete_volumes:
            for disk in disks:
                self.storage.delete_volume(*_volume(disk))

    def unplumb(self, uuid: UUID, macs: list[str]) -> None:
        """Remove a domain's filtered NICs' plumbing and its seed (gone already is fine)."""
        for mac in macs:
            self.plugs.unplug(mac)
        self.seeds.remove(uuid)

    def report_or_none(self, uuid: UUID) -> DomainReport | None:
        """The domain as it is now; None when it is already gone."""
        try:
            return self.domains.get(uuid)
        except NotFound:
            return None

    def _own_disks(self, uuid: UUID) -> list[DiskSpec]:
        """The domain's disks (not CD-ROMs); none when the domain is already gone."""
        report = self.report_or_none(uuid)
        return [d for d in report.disks if d.kind == "disk"] if report else []

    def attach_disk(self, uuid: UUID, disk: DiskSpec) -> DomainReport:
        """Attach a volume as a disk, or a CD-ROM (empty or with an image)."""
        self.domains.attach_disk(uuid, disk, None if disk.empty else self.disk_path(disk))
        return self.domains.get(uuid)


def _volume(disk: DiskSpec) -> tuple[str, str]:
    """Pool and volume of a disk that has media (an empty CD-ROM has none)."""
    if disk.pool is None or disk.volume is None:
        raise StateConflict(f"{disk.device} is an empty CD-ROM: it has no volume")
    return disk.pool, disk.volume


def guess_address(vrm_url: str | None) -> str:
    """The local address of the route towards VRM (no packet is sent), else loopback."""
    host = urlsplit(vrm_url).hostname if vrm_url else None
    if not host:
        return "127.0.0.1"
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect((host, 9))
            address: str = probe.getsockname()[0]
            return address
    except OSError:
        return "127.0.0.1"
