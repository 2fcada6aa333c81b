"""Host usage samples and domain counters."""

from __future__ import annotations

import pytest

from cna_agent.protocol import HostUsage
from cna_agent.virt.connection import Hypervisor
from cna_agent.virt.stats import (
    CpuSample,
    UsageSampler,
    cpu_percent,
    cpu_sample,
    domain_stats,
    host_usage,
)


def test_cpu_sample_counts_idle_and_iowait_as_not_busy() -> None:
    sample = cpu_sample({"kernel": 10, "user": 30, "idle": 50, "iowait": 10})
    assert sample == CpuSample(busy=40, total=100)


@pytest.mark.parametrize(
    ("previous", "current", "percent"),
    [
        (CpuSample(0, 0), CpuSample(25, 100), 25.0),
        (CpuSample(25, 100), CpuSample(100, 200), 75.0),
        (CpuSample(25, 100), CpuSample(25, 100), 0.0),  # no time passed
        (CpuSample(90, 100), CpuSample(10, 200), 0.0),  # counters reset
    ],
)
def test_cpu_percent(previous: CpuSample, current: CpuSample, percent: float) -> None:
    assert cpu_percent(previous, current) == percent


def check_usage(usage: HostUsage) -> None:
    assert 0.0 <= usage.cpu_percent <= 100.0
    assert usage.memory_total_mib > 0
    assert usage.memory_used_mib + usage.memory_free_mib == usage.memory_total_mib


def test_usage_on_test_driver(test_hv: Hypervisor) -> None:
    check_usage(host_usage(test_hv))


def test_sampler_on_qemu(qemu_hv: Hypervisor) -> None:
    sampler = UsageSampler(qemu_hv)
    first, second = sampler.sample(), sampler.sample()
    check_usage(first)
    check_usage(second)
    assert second.sampled_at >= first.sampled_at


def test_domain_stats_on_test_driver(test_hv: Hypervisor) -> None:
    # The test driver has one running domain, "test", with few counters.
    [stats] = domain_stats(test_hv)
    assert str(stats.uuid) == "6695eb01-f6a4-8304-79aa-97f2502e193f"
    assert stats.cpu_time_ns >= 0
