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

The policy, the figures and the steering rules are in ``cna_agent.virt.convergence``;
CPU compatibility checks in ``cna_agent.virt.cpu``.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, Literal
from uuid import UUID

import libvirt

from cna_agent.errors import AgentError, OperationTimeout
from cna_agent.virt.connection import translate, translate_error
from cna_agent.virt.convergence import (
    Abort,
    Action,
    MigrationAborted,
    MigrationPolicy,
    MigrationProgress,
    MigrationResult,
    RaiseDowntime,
    StartPostCopy,
    Steering,
    progress_from_stats,
)

log = logging.getLogger(__name__)

POLL_S = 0.5
# How long an aborted migration may take to hand the domain back to the source.
ABORT_WAIT_S = 60.0
_CANCELLED = libvirt.VIR_ERR_OPERATION_ABORTED
_NO_JOB = {libvirt.VIR_ERR_OPERATION_INVALID, libvirt.VIR_ERR_NO_DOMAIN}


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
    if policy.copy_storage and policy.copy_disks:
        params[libvirt.VIR_MIGRATE_PARAM_MIGRATE_DISKS] = list(policy.copy_disks)
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
