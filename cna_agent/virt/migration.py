"""Live migration of a running domain to another host, watched and steered from the source.

``migrate`` runs libvirt's peer-to-peer migration in a thread and, in the caller's
thread, reads the job's statistics every half second: it reports progress, raises the
allowed pause (max downtime) one step when the memory still to send stops shrinking,
switches to post-copy when asked to and the last step did not help, and aborts on a
time limit or when the caller asks. A migration that fails or is aborted leaves the
domain running on the source (libvirt resumes it there).

Once in post-copy the guest runs on the destination while its memory still arrives
from the source: it can no longer be abandoned, so limits and cancel requests are then
ignored. Post-copy needs userfaultfd in the destination's QEMU (with QEMU 7.2 as an
unprivileged user: ``vm.unprivileged_userfaultfd = 1``); without it libvirt refuses to
start the migration and the domain stays where it was.

Final figures: with ``UNDEFINE_SOURCE`` the source forgets the domain, completed-job
statistics included, as the migration ends; the destination keeps them (downtime,
elapsed time, bytes, iterations) after a pre-copy migration, so they are read there.
After post-copy it has none, and the figures come from the last sample on the source.

CPU checks for placement: ``host_cpu_xml`` on one host, ``compare_cpu`` on another
("can you run this CPU?") and ``baseline_cpu`` for the CPU a group of hosts can all run.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from uuid import UUID

import libvirt

from cna_agent.errors import AgentError, OperationTimeout
from cna_agent.virt.connection import translate, translate_error

log = logging.getLogger(__name__)

POLL_S = 0.5
# How long an aborted migration may take to hand the domain back to the source.
ABORT_WAIT_S = 60.0
_CANCELLED = libvirt.VIR_ERR_OPERATION_ABORTED
_NO_JOB = {libvirt.VIR_ERR_OPERATION_INVALID, libvirt.VIR_ERR_NO_DOMAIN}


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


@dataclass(frozen=True, slots=True)
class CpuComparison:
    """Whether a host can run a CPU definition, and libvirt's reason when it cannot."""

    compatible: bool
    relation: Literal["identical", "superset", "incompatible"]
    detail: str = ""


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


# --- the migration ----------------------------------------------------------------


class _Runner(threading.Thread):
    """The blocking ``migrateToURI3`` call."""

    def __init__(self, dom: libvirt.virDomain, dest_uri: str, params: dict[str, Any], flags: int):
        super().__init__(name=f"migrate-{dom.UUIDString()}", daemon=True)
        self._call = (dom, dest_uri, params, flags)
        self.error: libvirt.libvirtError | None = None

    def run(self) -> None:
        dom, dest_uri, params, flags = self._call
        try:
            dom.migrateToURI3(dest_uri, params, flags)
        except libvirt.libvirtError as exc:
            self.error = exc


def migration_flags(policy: MigrationPolicy) -> int:
    """libvirt's flags for a policy: always live and peer-to-peer."""
    flags: int = libvirt.VIR_MIGRATE_LIVE | libvirt.VIR_MIGRATE_PEER2PEER
    if policy.persistent:
        flags |= libvirt.VIR_MIGRATE_PERSIST_DEST | libvirt.VIR_MIGRATE_UNDEFINE_SOURCE
    optional = (
        (policy.auto_converge, libvirt.VIR_MIGRATE_AUTO_CONVERGE),
        (policy.post_copy, libvirt.VIR_MIGRATE_POSTCOPY),
        (policy.copy_storage, libvirt.VIR_MIGRATE_NON_SHARED_DISK),
        (policy.unsafe, libvirt.VIR_MIGRATE_UNSAFE),
    )
    for wanted, flag in optional:
        if wanted:
            flags |= flag
    return flags


def migration_params(
    policy: MigrationPolicy, migrate_uri: str, dest_xml: str | None = None
) -> dict[str, Any]:
    """libvirt's typed parameters: the explicit stream URI (else QEMU uses the hostname),
    the bandwidth limit, and the definition the domain takes on the destination."""
    params: dict[str, Any] = {libvirt.VIR_MIGRATE_PARAM_URI: migrate_uri}
    if policy.bandwidth_mib_s is not None:
        params[libvirt.VIR_MIGRATE_PARAM_BANDWIDTH] = policy.bandwidth_mib_s
    if dest_xml is not None:
        params[libvirt.VIR_MIGRATE_PARAM_DEST_XML] = dest_xml
        if policy.persistent:
            # Else the persistent definition on the destination keeps the source's paths.
            params[libvirt.VIR_MIGRATE_PARAM_PERSIST_XML] = dest_xml
    return params


def migrate(
    conn: libvirt.virConnect,
    uuid: UUID | str,
    *,
    dest_uri: str,
    migrate_uri: str,
    policy: MigrationPolicy,
    on_progress: Callable[[MigrationProgress], None] = lambda _p: None,
    should_abort: Callable[[], bool | str] = lambda: False,
    poll_s: float = POLL_S,
    dest_xml: str | None = None,
) -> MigrationResult:
    """Live-migrate domain ``uuid`` to the libvirtd at ``dest_uri`` over ``migrate_uri``
    (defined there as ``dest_xml`` when given: the same domain with the target's paths).

    ``should_abort`` is asked at every poll; a true value (or a string naming who)
    cancels the migration with MigrationAborted. Limits abort with MigrationTimeout.
    ``migrateToURI3`` gets a connection of its own to ``conn``'s libvirtd: while it runs,
    libvirt 9.0 holds other calls on its connection until the migration ends (lookups
    always; an abort sent as the destination prepares, too). Everything else goes
    through ``conn``.
    """
    started = time.monotonic()
    with translate():
        dom = conn.lookupByUUIDString(str(uuid))
        steering = Steering(policy, str(dom.UUIDString()), started)
        # Before the job starts, so that even a quick migration runs with the first step.
        dom.migrateSetMaxDowntime(steering.max_downtime_ms, 0)
    params, flags = migration_params(policy, migrate_uri, dest_xml), migration_flags(policy)
    with _own_connection(conn) as own:
        with translate():
            runner = _Runner(own.lookupByUUIDString(steering.uuid), dest_uri, params, flags)
        runner.start()
        last, requested = _watch(dom, runner, steering, on_progress, should_abort, poll_s)
    if runner.error is not None:
        raise _failure(runner.error, requested, steering.uuid)
    if requested is not None:
        log.warning("migration of %s completed before it could be aborted", steering.uuid)
    wall_ms = int((time.monotonic() - started) * 1000)
    return _result(_destination_stats(dest_uri, steering.uuid), last, steering, wall_ms)


@contextlib.contextmanager
def _own_connection(conn: libvirt.virConnect) -> Iterator[libvirt.virConnect]:
    with translate():
        own = libvirt.open(conn.getURI())
    try:
        yield own
    finally:
        with contextlib.suppress(libvirt.libvirtError):
            own.close()


def _watch(
    dom: libvirt.virDomain,
    runner: _Runner,
    steering: Steering,
    on_progress: Callable[[MigrationProgress], None],
    should_abort: Callable[[], bool | str],
    poll_s: float,
) -> tuple[MigrationProgress | None, AgentError | None]:
    """Poll until the migration thread ends; returns the last sample and any abort cause."""
    last: MigrationProgress | None = None
    try:
        while runner.is_alive():
            runner.join(poll_s)
            if not runner.is_alive():
                break
            sample = _sample(dom, steering)
            if sample is not None:
                last = sample
                on_progress(sample)
            action = _next_action(steering, sample, should_abort)
            if isinstance(action, Abort):
                _abort_and_wait(dom, runner)
                return last, action.error
            if action is not None:
                _apply(dom, action, steering)
    except BaseException:
        _abort_and_wait(dom, runner)
        raise
    return last, None


def _next_action(
    steering: Steering, sample: MigrationProgress | None, should_abort: Callable[[], bool | str]
) -> Action | None:
    asked = should_abort()
    if asked:
        return steering.cancel(asked if isinstance(asked, str) else "the operator")
    return steering.decide(sample, time.monotonic())


def _sample(dom: libvirt.virDomain, steering: Steering) -> MigrationProgress | None:
    """The job's statistics now, or None when there is no job to read (starting, ending)."""
    try:
        stats = dom.jobStats(0)
    except libvirt.libvirtError as exc:
        # The source is paused during post-copy and gone once the migration is done; any
        # other failure to read figures must not end a migration that may be doing well.
        if exc.get_error_code() not in _NO_JOB:
            log.warning("migration of %s: no statistics: %s", steering.uuid, exc)
        return None
    if int(stats.get("type", libvirt.VIR_DOMAIN_JOB_NONE)) == libvirt.VIR_DOMAIN_JOB_NONE:
        return None
    return progress_from_stats(
        stats, max_downtime_ms=steering.max_downtime_ms, post_copy=steering.post_copy
    )


def _apply(dom: libvirt.virDomain, action: Action, steering: Steering) -> None:
    try:
        if isinstance(action, RaiseDowntime):
            log.info("migration of %s: max downtime %d ms", steering.uuid, action.downtime_ms)
            dom.migrateSetMaxDowntime(action.downtime_ms, 0)
        elif isinstance(action, StartPostCopy):
            log.info("migration of %s: switching to post-copy", steering.uuid)
            dom.migrateStartPostCopy(0)
    except libvirt.libvirtError as exc:
        # The job may have ended meanwhile (its outcome says how); a refused switch to
        # post-copy must not leave the limits off.
        log.warning("migration of %s: %s failed: %s", steering.uuid, action, exc)
        if isinstance(action, StartPostCopy):
            steering.post_copy = False


def _abort_and_wait(dom: libvirt.virDomain, runner: _Runner) -> None:
    """Abort the job (a finished one is fine) and wait for the domain to be handed back."""
    try:
        dom.abortJob()
    except libvirt.libvirtError as exc:
        log.info("abortJob: %s", exc.get_error_message())
    runner.join(ABORT_WAIT_S)
    if runner.is_alive():
        raise OperationTimeout(f"migration did not stop {ABORT_WAIT_S:g} s after its abort")


def _failure(error: libvirt.libvirtError, requested: AgentError | None, uuid: str) -> AgentError:
    """The error to raise for a failed migration."""
    if requested is not None:
        return requested
    if error.get_error_code() == _CANCELLED:
        return MigrationAborted(f"migration of {uuid} was cancelled by another request")
    return translate_error(error)


def _destination_stats(dest_uri: str, uuid: str) -> dict[str, Any]:
    """The completed job's statistics kept by the destination ({} when unavailable)."""
    try:
        dest = libvirt.openReadOnly(dest_uri)
    except libvirt.libvirtError as exc:
        log.info("no final figures from %s: %s", dest_uri, exc.get_error_message())
        return {}
    try:
        stats: dict[str, Any] = dest.lookupByUUIDString(uuid).jobStats(
            libvirt.VIR_DOMAIN_JOB_STATS_COMPLETED
        )
        return stats
    except libvirt.libvirtError as exc:
        log.info("no final figures from %s: %s", dest_uri, exc.get_error_message())
        return {}
    finally:
        dest.close()


def _result(
    completed: dict[str, Any], last: MigrationProgress | None, steering: Steering, wall_ms: int
) -> MigrationResult:
    """Figures from the destination's completed job, else from the last sample."""
    source: Literal["destination", "source"] = "source"
    final = last or progress_from_stats({}, max_downtime_ms=None)
    if int(completed.get("type", libvirt.VIR_DOMAIN_JOB_NONE)) == libvirt.VIR_DOMAIN_JOB_COMPLETED:
        final, source = progress_from_stats(completed, max_downtime_ms=None), "destination"
    # The destination counts memory only, so a storage copy's size comes from the last
    # sample on the source: a successful copy sent all of its disk total (a small copy
    # may finish between two polls and go uncounted).
    disk = max(final.disk_processed, last.disk_total if last else 0)
    return MigrationResult(
        elapsed_ms=final.elapsed_ms or wall_ms,
        wall_ms=wall_ms,
        downtime_ms=final.downtime_ms,
        iterations=final.memory_iteration,
        data_bytes=max(final.data_processed, final.memory_processed + disk),
        memory_bytes=final.memory_processed,
        disk_bytes=disk,
        max_downtime_ms=steering.max_downtime_ms,
        post_copy=steering.post_copy,
        figures_from=source,
    )


def job_progress(conn: libvirt.virConnect, uuid: UUID | str) -> MigrationProgress | None:
    """The domain's running job as a MigrationProgress, or None when it has none."""
    with translate():
        dom = conn.lookupByUUIDString(str(uuid))
        stats = dom.jobStats(0)
        if int(stats.get("type", libvirt.VIR_DOMAIN_JOB_NONE)) == libvirt.VIR_DOMAIN_JOB_NONE:
            return None
        # libvirt-python answers None rather than raising when it cannot tell.
        downtime = dom.migrateGetMaxDowntime(0)
    return progress_from_stats(stats, max_downtime_ms=None if downtime is None else int(downtime))


def abort(conn: libvirt.virConnect, uuid: UUID | str) -> bool:
    """Abort the domain's running job; False when it had none (nothing to do)."""
    with translate():
        dom = conn.lookupByUUIDString(str(uuid))
        if int(dom.jobInfo()[0]) == libvirt.VIR_DOMAIN_JOB_NONE:
            return False
        try:
            dom.abortJob()
        except libvirt.libvirtError as exc:
            # The job ended between the two calls.
            if exc.get_error_code() == libvirt.VIR_ERR_OPERATION_INVALID:
                return False
            raise
    return True


# --- CPU compatibility ------------------------------------------------------------


def host_cpu_xml(conn: libvirt.virConnect) -> str:
    """This host's CPU (model, vendor, features) as libvirt's capabilities describe it."""
    with translate():
        caps = ET.fromstring(conn.getCapabilities())
    cpu = caps.find("host/cpu")
    if cpu is None:
        raise AgentError("libvirt's capabilities describe no host CPU")
    return ET.tostring(cpu, encoding="unicode")


_RELATIONS: dict[int, Literal["identical", "superset", "incompatible"]] = {
    libvirt.VIR_CPU_COMPARE_IDENTICAL: "identical",
    libvirt.VIR_CPU_COMPARE_SUPERSET: "superset",
    libvirt.VIR_CPU_COMPARE_INCOMPATIBLE: "incompatible",
}


def compare_cpu(conn: libvirt.virConnect, cpu_xml: str) -> CpuComparison:
    """Whether this host's CPU can run ``cpu_xml`` (a host or guest CPU definition)."""
    try:
        code = int(conn.compareCPU(cpu_xml, libvirt.VIR_CONNECT_COMPARE_CPU_FAIL_INCOMPATIBLE))
    except libvirt.libvirtError as exc:
        message = exc.get_error_message() or str(exc)
        # A feature or model this libvirt does not know (say, from a newer source host)
        # is as good as missing: the guest could not get it here.
        if exc.get_error_code() == libvirt.VIR_ERR_CPU_INCOMPATIBLE or "Unknown CPU" in message:
            return CpuComparison(False, "incompatible", message)
        raise translate_error(exc) from exc
    relation = _RELATIONS.get(code, "incompatible")
    return CpuComparison(relation != "incompatible", relation)


def baseline_cpu(conn: libvirt.virConnect, cpu_xmls: Sequence[str]) -> str:
    """The CPU definition every one of ``cpu_xmls`` can run, safe to migrate between them."""
    with translate():
        return str(conn.baselineCPU(list(cpu_xmls), libvirt.VIR_CONNECT_BASELINE_CPU_MIGRATABLE))
