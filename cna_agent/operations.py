"""Long operations (202 answers): run in a small thread pool, polled by VRM.

Operations live in memory: if the agent restarts, VRM finds the operation gone
(404) and re-sends the command, which is idempotent.
"""

from __future__ import annotations

import functools
import logging
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any, Protocol

from cna_agent.clock import utcnow
from cna_agent.errors import AgentError, NotFound
from cna_agent.protocol import ErrorDetail, Operation, OperationState

log = logging.getLogger(__name__)


class Progress(Protocol):
    """A work function's way to say how far it got, in percent (0-100), and optionally
    the figures so far (shown in the running operation's ``result``)."""

    def __call__(self, percent: int, figures: dict[str, Any] | None = None) -> None: ...


Work = Callable[[], dict[str, Any] | None]
TrackedWork = Callable[[Progress], dict[str, Any] | None]

# Finished operations are forgotten after this long.
KEEP_FINISHED = timedelta(hours=1)


class Operations:
    """The registry of long operations."""

    def __init__(self, workers: int = 4) -> None:
        self._ops: dict[uuid.UUID, Operation] = {}
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="cna-op")

    def submit(self, kind: str, target: str, work: Work) -> Operation:
        """Start ``work`` in the background; return its operation (state ``running``)."""
        return self.submit_tracked(kind, target, lambda _progress: work())

    def running(self, kind: str, target: str) -> Operation | None:
        """The running operation of this kind on this target, if any."""
        with self._lock:
            return next(
                (
                    op
                    for op in self._ops.values()
                    if op.kind == kind
                    and op.target == target
                    and op.state is OperationState.RUNNING
                ),
                None,
            )

    def submit_tracked(self, kind: str, target: str, work: TrackedWork) -> Operation:
        """Like ``submit``, for work that reports its progress through the callback it gets."""
        op = Operation(
            id=uuid.uuid4(),
            kind=kind,
            target=target,
            state=OperationState.RUNNING,
            started_at=utcnow(),
        )
        with self._lock:
            self._forget_old()
            self._ops[op.id] = op
        self._pool.submit(self._run, op.id, work)
        return op

    def get(self, op_id: uuid.UUID) -> Operation:
        """An operation by id; 404 when unknown or forgotten."""
        with self._lock:
            op = self._ops.get(op_id)
        if op is None:
            raise NotFound(f"operation {op_id} is unknown", code="operation_not_found")
        return op

    def shutdown(self) -> None:
        """Stop taking work; let running operations finish."""
        self._pool.shutdown(wait=True)

    def _run(self, op_id: uuid.UUID, work: TrackedWork) -> None:
        try:
            result = work(functools.partial(self._progress, op_id)) or {}
            self._finish(op_id, OperationState.SUCCEEDED, result=result)
        except AgentError as exc:
            detail = ErrorDetail(
                code=exc.code,
                message=exc.message,
                details={**exc.details, "retryable": exc.retryable},
            )
            self._finish(op_id, OperationState.FAILED, error=detail)
        except Exception as exc:  # a bug must still end the operation, not hang VRM's poll
            log.exception("operation %s failed unexpectedly", op_id)
            detail = ErrorDetail(
                code="agent_error",
                message=str(exc) or type(exc).__name__,
                details={"retryable": False},
            )
            self._finish(op_id, OperationState.FAILED, error=detail)

    def _progress(
        self, op_id: uuid.UUID, percent: int, figures: dict[str, Any] | None = None
    ) -> None:
        percent = max(0, min(100, int(percent)))
        with self._lock:
            op = self._ops[op_id]
            if op.state is not OperationState.RUNNING:
                return
            if percent != op.progress or figures is not None:
                update: dict[str, Any] = {"progress": percent}
                if figures is not None:
                    update["result"] = figures
                self._ops[op_id] = op.model_copy(update=update)

    def _finish(
        self,
        op_id: uuid.UUID,
        state: OperationState,
        *,
        result: dict[str, Any] | None = None,
        error: ErrorDetail | None = None,
    ) -> None:
        with self._lock:
            op = self._ops[op_id]
            self._ops[op_id] = op.model_copy(
                update={
                    "state": state,
                    "progress": 100 if state is OperationState.SUCCEEDED else op.progress,
                    "result": result or {},
                    "error": error,
                    "finished_at": utcnow(),
                }
            )

    def _forget_old(self) -> None:
        cutoff = utcnow() - KEEP_FINISHED
        for op_id in [i for i, o in self._ops.items() if o.finished_at and o.finished_at < cutoff]:
            del self._ops[op_id]
