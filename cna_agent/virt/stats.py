"""How busy the node and its domains are: host usage samples and per-domain counters."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import libvirt

from cna_agent.protocol import DomainStats, HostUsage
from cna_agent.virt.connection import Hypervisor, translate

_DOMAIN_GROUPS = (
    libvirt.VIR_DOMAIN_STATS_CPU_TOTAL
    | libvirt.VIR_DOMAIN_STATS_BALLOON
    | libvirt.VIR_DOMAIN_STATS_BLOCK
    | libvirt.VIR_DOMAIN_STATS_INTERFACE
)
# CPU time the host spent not working; everything else getCPUStats reports is work.
_IDLE_KEYS = ("idle", "iowait")


@dataclass(frozen=True)
class CpuSample:
    """Cumulative host CPU time in ns: busy and in total."""

    busy: int
    total: int


class UsageSampler:
    """Samples host usage; CPU percent covers the time since the previous sample.

    The agent's stats loop calls ``sample()`` every ``CNA_STATS_S``; nothing sleeps
    here. The first sample's CPU percent is the average since the host booted.
    """

    def __init__(self, hv: Hypervisor) -> None:
        self.hv = hv
        self._previous = CpuSample(busy=0, total=0)

    def sample(self) -> HostUsage:
        """A usage sample of the node."""
        with translate():
            cpu = cpu_sample(self.hv.conn.getCPUStats(libvirt.VIR_NODE_CPU_STATS_ALL_CPUS, 0))
            total_kib, used_kib = memory_kib(self.hv.conn)
        percent = cpu_percent(self._previous, cpu)
        self._previous = cpu
        total_mib, used_mib = total_kib // 1024, used_kib // 1024
        return HostUsage(
            cpu_percent=percent,
            memory_total_mib=total_mib,
            memory_used_mib=used_mib,
            memory_free_mib=total_mib - used_mib,
            sampled_at=datetime.now(UTC),
        )


def host_usage(hv: Hypervisor) -> HostUsage:
    """One usage sample with the CPU percent averaged since boot (prefer a UsageSampler)."""
    return UsageSampler(hv).sample()


def cpu_sample(stats: dict[str, Any]) -> CpuSample:
    """A CpuSample from libvirt's node CPU stats (ns per kind of work)."""
    total = sum(int(v) for v in stats.values())
    idle = sum(int(stats.get(key, 0)) for key in _IDLE_KEYS)
    return CpuSample(busy=total - idle, total=total)


def cpu_percent(previous: CpuSample, current: CpuSample) -> float:
    """Busy share of the CPU time between two samples, 0-100."""
    elapsed = current.total - previous.total
    if elapsed <= 0:
        return 0.0
    busy = min(max(current.busy - previous.busy, 0), elapsed)
    return round(100.0 * busy / elapsed, 2)


def memory_kib(conn: libvirt.virConnect) -> tuple[int, int]:
    """Total and used host memory in KiB; page cache and buffers count as free."""
    try:
        stats = conn.getMemoryStats(libvirt.VIR_NODE_MEMORY_STATS_ALL_CELLS, 0)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() != libvirt.VIR_ERR_NO_SUPPORT:
            raise
        # The test driver has no memory stats: its node info and free memory stand in.
        total = int(conn.getInfo()[1]) * 1024
        return total, total - int(conn.getFreeMemory()) // 1024
    total = int(stats["total"])
    free = sum(int(stats.get(key, 0)) for key in ("free", "buffers", "cached"))
    return total, total - free


def domain_stats(hv: Hypervisor) -> list[DomainStats]:
    """Counters of every running domain: CPU time, balloon, disk and network bytes."""
    flags = libvirt.VIR_CONNECT_GET_ALL_DOMAINS_STATS_ACTIVE
    with translate():
        records = [
            (str(dom.UUIDString()), dict(stats))
            for dom, stats in hv.conn.getAllDomainStats(_DOMAIN_GROUPS, flags)
        ]
    return [_domain_stats(uuid, stats) for uuid, stats in records]


def _domain_stats(uuid: str, stats: dict[str, Any]) -> DomainStats:
    return DomainStats(
        uuid=uuid,
        cpu_time_ns=int(stats.get("cpu.time", 0)),
        memory_actual_mib=int(stats.get("balloon.current", 0)) // 1024,
        memory_rss_mib=int(stats.get("balloon.rss", 0)) // 1024,
        block_rd_bytes=_summed(stats, "block", "rd.bytes"),
        block_wr_bytes=_summed(stats, "block", "wr.bytes"),
        net_rx_bytes=_summed(stats, "net", "rx.bytes"),
        net_tx_bytes=_summed(stats, "net", "tx.bytes"),
    )


def _summed(stats: dict[str, Any], group: str, counter: str) -> int:
    """Sum a counter over a group's numbered entries (``block.0.rd.bytes``, ...)."""
    count = int(stats.get(f"{group}.count", 0))
    return sum(int(stats.get(f"{group}.{i}.{counter}", 0)) for i in range(count))
