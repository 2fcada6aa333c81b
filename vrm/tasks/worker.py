"""The task worker of one VRM process: claims due tasks and runs them in a thread pool.

Several VRM processes may run workers against one PostgreSQL database: a task is
taken by compare-and-swap (rows pre-selected with SKIP LOCKED), so each runs once.
A worker marks its running tasks alive every few seconds; a task whose worker went
silent for ``VRM_TASK_STALE_AFTER_S`` (a VRM killed mid-task) is taken over and
resumed at the step it was in.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker

from vrm.models.base import utcnow
from vrm.tasks.engine import run_task
from vrm.tasks.flow import TaskRuntime
from vrm.tasks.repository import TaskRepository

log = logging.getLogger(__name__)

IDLE_POLL_S = 0.5


class TaskWorker:
    """Claims and runs tasks until stopped."""

    def __init__(self, factory: sessionmaker[Session], runtime: TaskRuntime) -> None:
        self.factory = factory
        self.runtime = runtime
        self.settings = settings = runtime.settings
        self.name = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._pool = ThreadPoolExecutor(settings.task_workers, thread_name_prefix="vrm-task")
        self._running: set[uuid.UUID] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._threads = [
            threading.Thread(target=self._dispatch_loop, name="vrm-task-dispatch", daemon=True),
            threading.Thread(target=self._touch_loop, name="vrm-task-alive", daemon=True),
        ]

    def start(self) -> None:
        """Start claiming tasks."""
        for thread in self._threads:
            thread.start()

    def wake(self) -> None:
        """Look for work now (a request just queued a task)."""
        self._wake.set()

    def stop(self) -> None:
        """Stop claiming; let running steps end."""
        self._stop.set()
        self._wake.set()
        for thread in self._threads:
            thread.join(timeout=10)
        self._pool.shutdown(wait=True, cancel_futures=True)

    def claim_once(self) -> list[uuid.UUID]:
        """Claim as many due tasks as there are free slots; their ids."""
        free = self.settings.task_workers - len(self._running)
        if free <= 0:
            return []
        now = utcnow()
        stale = now - timedelta(seconds=self.settings.task_stale_after_s)
        claimed = []
        with self.factory.begin() as session:
            repo = TaskRepository(session)
            for task_id in repo.claimable(now, stale, free):
                if repo.claim(task_id, self.name, now, stale):
                    claimed.append(task_id)
        return claimed

    def _dispatch_loop(self) -> None:
        while not self._stop.is_set():
            try:
                for task_id in self.claim_once():
                    self._submit(task_id)
            except Exception:
                log.exception("claiming tasks failed")
            self._wake.wait(IDLE_POLL_S)
            self._wake.clear()

    def _submit(self, task_id: uuid.UUID) -> None:
        with self._lock:
            self._running.add(task_id)
        self._pool.submit(self._run, task_id)

    def _run(self, task_id: uuid.UUID) -> None:
        try:
            run_task(self.factory, self.runtime, task_id, self.name)
        except Exception:
            log.exception("task %s crashed", task_id)
        finally:
            with self._lock:
                self._running.discard(task_id)
            self._wake.set()

    def _touch_loop(self) -> None:
        interval = self.settings.task_stale_after_s / 3
        while not self._stop.wait(interval):
            with self._lock:
                running = list(self._running)
            try:
                with self.factory.begin() as session:
                    TaskRepository(session).touch(running, self.name, utcnow())
            except Exception:
                log.exception("marking running tasks alive failed")
