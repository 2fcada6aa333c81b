"""What a live migration is asked to do and how it is steered, without libvirt calls:
the policy, the progress samples and final figures, the errors that end it, and the
``Steering`` that decides, poll after poll, to raise the allowed pause (max downtime),
switch to post-copy, or abort on a limit or a cancel request."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Literal

import libvirt

from cna_agent.errors import AgentError, OperationTimeout

log = logging.getLogger(__name__)


class MigrationAborted(AgentError):
    """The migration was cancelled (by the operator or another request); the domain stayed."""

    status = 409
    default_code = "migration_aborted"


class MigrationTimeout(OperationTimeout):
    """The migration hit a time limit and was aborted; the domain stayed on the source."""

    default_code = "migration_timeout"


@dataclass(frozen=True, slots=True)
class MigrationPolicy:
    """How one migration runs and when it gives up."""

    completion_timeout_s: float
    no_progress_timeout_s: float
    bandwidth_mib_s: int | None = None
    downtime_steps_ms: tuple[int, ...] = (100, 200, 300, 400, 500)
    # Memory iterations without less memory left before the next downtime step.
    stall_iterations: int = 3
    auto_converge: bool = False
    post_copy: bool = False
    copy_storage: bool = False
    # The disks copied (by device); none named = every disk libvirt would copy.
    copy_disks: tuple[str, ...] = ()
    persistent: bool = True
    # Disks on storage libvirt cannot tell is shared (a plain folder both hosts see).
    unsafe: bool = False

    def __post_init__(self) -> None:
        if not self.downtime_steps_ms or list(self.downtime_steps_ms) != sorted(
            self.downtime_steps_ms
        ):
            raise ValueError("downtime_steps_ms must be a non-empty ascending sequence")
        if self.stall_iterations < 1:
            raise ValueError("stall_iterations must be at least 1")


@dataclass(frozen=True, slots=True)
class MigrationProgress:
    """One sample of a migration job's statistics (bytes, ms, pages/s)."""

    elapsed_ms: int
    data_total: int
    data_processed: int
    data_remaining: int
    memory_total: int
    memory_processed: int
    memory_remaining: int
    dirty_rate_pages_s: int
    memory_iteration: int
    disk_total: int
    disk_processed: int
    disk_remaining: int
    downtime_ms: int | None
    max_downtime_ms: int | None
    post_copy: bool = False

    @property
    def percent(self) -> float:
        """Share of the data already sent (it can go back when dirtied memory is resent)."""
        if self.data_total <= 0:
            return 0.0
        done = self.data_total - self.data_remaining
        return max(0.0, min(100.0, 100.0 * done / self.data_total))


@dataclass(frozen=True, slots=True)
class MigrationResult:
    """The figures of a finished migration."""

    elapsed_ms: int
    wall_ms: int
    downtime_ms: int | None
    iterations: int
    data_bytes: int
    memory_bytes: int
    disk_bytes: int
    max_downtime_ms: int
    post_copy: bool
    figures_from: Literal["destination", "source"]


def progress_from_stats(
    stats: dict[str, Any], *, max_downtime_ms: int | None, post_copy: bool = False
) -> MigrationProgress:
    """A MigrationProgress from ``virDomainGetJobStats`` (missing figures count as 0)."""

    def num(key: str) -> int:
        return int(stats.get(key, 0))

    downtime = stats.get(libvirt.VIR_DOMAIN_JOB_DOWNTIME)
    return MigrationProgress(
        elapsed_ms=num(libvirt.VIR_DOMAIN_JOB_TIME_ELAPSED),
        data_total=num(libvirt.VIR_DOMAIN_JOB_DATA_TOTAL),
        data_processed=num(libvirt.VIR_DOMAIN_JOB_DATA_PROCESSED),
        data_remaining=num(libvirt.VIR_DOMAIN_JOB_DATA_REMAINING),
        memory_total=num(libvirt.VIR_DOMAIN_JOB_MEMORY_TOTAL),
        memory_processed=num(libvirt.VIR_DOMAIN_JOB_MEMORY_PROCESSED),
        memory_remaining=num(libvirt.VIR_DOMAIN_JOB_MEMORY_REMAINING),
        dirty_rate_pages_s=num(libvirt.VIR_DOMAIN_JOB_MEMORY_DIRTY_RATE),
        memory_iteration=num(libvirt.VIR_DOMAIN_JOB_MEMORY_ITERATION),
        disk_total=num(libvirt.VIR_DOMAIN_JOB_DISK_TOTAL),
        disk_processed=num(libvirt.VIR_DOMAIN_JOB_DISK_PROCESSED),
        disk_remaining=num(libvirt.VIR_DOMAIN_JOB_DISK_REMAINING),
        downtime_ms=None if downtime is None else int(downtime),
        max_downtime_ms=max_downtime_ms,
        post_copy=post_copy,
    )


# --- steering ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RaiseDowntime:
    """Allow a longer final pause."""

    downtime_ms: int


@dataclass(frozen=True, slots=True)
class StartPostCopy:
    """Run the guest on the destination now and pull the rest of its memory."""


@dataclass(frozen=True, slots=True)
class Abort:
    """Give up; the error tells the caller why."""

    error: AgentError


Action = RaiseDowntime | StartPostCopy | Abort


class Steering:
    """Decides, poll after poll, what a running migration needs (no libvirt here)."""

    def __init__(self, policy: MigrationPolicy, uuid: str, started: float) -> None:
        self.policy = policy
        self.uuid = uuid
        self.started = started
        self.step = 0
        self.post_copy = False
        self._iteration = 0
        self._best_at_pass: int | None = None
        self._stalled = 0
        self._least_remaining: int | None = None
        self._progress_at = started
        self._cancel_ignored = False

    @property
    def max_downtime_ms(self) -> int:
        """The downtime step in force."""
        return self.policy.downtime_steps_ms[self.step]

    def decide(self, sample: MigrationProgress | None, now: float) -> Action | None:
        """The action called for at ``now``, given the latest sample (None: no figures yet)."""
        if self.post_copy:
            return None
        if sample is not None:
            self._note_progress(sample, now)
        if error := self._timeout(now):
            return Abort(error)
        if sample is not None and self._stalled_out(sample):
            return self._escalate()
        return None

    def cancel(self, who: str) -> Action | None:
        """The action for a cancel request (none once in post-copy)."""
        if self.post_copy:
            if not self._cancel_ignored:
                log.warning("migration of %s is in post-copy: cancel by %s ignored", self.uuid, who)
                self._cancel_ignored = True
            return None
        return Abort(MigrationAborted(f"migration of {self.uuid} was cancelled by {who}"))

    def _note_progress(self, sample: MigrationProgress, now: float) -> None:
        # Before the first statistics (setup) nothing is counted yet: no progress to judge.
        if sample.data_total <= 0:
            return
        if self._least_remaining is None or sample.data_remaining < self._least_remaining:
            self._least_remaining = sample.data_remaining
            self._progress_at = now

    def _timeout(self, now: float) -> AgentError | None:
        policy, details = self.policy, {"uuid": self.uuid}
        if now - self.started > policy.completion_timeout_s:
            limit = f"did not complete within {policy.completion_timeout_s:g} s"
            details["limit"] = "completion_timeout_s"
        elif now - self._progress_at > policy.no_progress_timeout_s:
            limit = f"made no progress for {policy.no_progress_timeout_s:g} s"
            details["limit"] = "no_progress_timeout_s"
        else:
            return None
        return MigrationTimeout(f"migration of {self.uuid} {limit}; aborted", details=details)

    def _stalled_out(self, sample: MigrationProgress) -> bool:
        """Count memory passes (from the second one on) that did not leave less to send."""
        passes = sample.memory_iteration - self._iteration
        if passes <= 0:
            return False
        if self._iteration >= 1:
            best = self._best_at_pass
            if best is None or sample.memory_remaining < best:
                self._best_at_pass, self._stalled = sample.memory_remaining, 0
            else:
                self._stalled += passes
        self._iteration = sample.memory_iteration
        return self._stalled >= self.policy.stall_iterations

    def _escalate(self) -> Action | None:
        self._stalled = 0
        if self.step + 1 < len(self.policy.downtime_steps_ms):
            self.step += 1
            return RaiseDowntime(self.max_downtime_ms)
        if self.policy.post_copy:
            self.post_copy = True
            return StartPostCopy()
        return None
