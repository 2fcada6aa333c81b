"""Engine and session factories for SQLite (embedded) and PostgreSQL (production).

Concurrency rules (see docs/operations.md, "Load"):

- Reads never take SQLite's write lock: read-only sessions (every GET) begin a deferred
  transaction, which in WAL mode reads the last committed state without waiting.
- Writers on SQLite begin ``IMMEDIATE`` (a deferred transaction that later writes fails
  when another connection wrote in between). Inside one process they first pass a
  write gate, a lock handed over the moment a writer commits; SQLite's own busy wait
  (for other processes) sleeps up to 100 ms between tries.
- The pool has a fixed size (no overflow): the app sizes it from ``VRM_DB_CONCURRENCY``
  plus its background threads, so a request never waits for a connection.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from vrm.errors import Overloaded

# A transaction to work in: entered, it yields a session; left, it commits (or rolls back).
SessionScope = Callable[[], AbstractContextManager[Session]]
# Execution option for connections that only read (ignored outside SQLite).
READ_ONLY = "openvrm_read_only"
# How long a writer waits for the in-process write gate before giving up with 503.
WRITE_GATE_WAIT_S = 10.0
# SQLite's busy timeout (another process holds the write lock), in milliseconds.
_BUSY_TIMEOUT_MS = 30_000


def _prepare_sqlite(url: str) -> dict[str, Any]:
    """Create the database's folder and return the driver arguments SQLite needs."""
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    return {"check_same_thread": False, "timeout": _BUSY_TIMEOUT_MS / 1000}


class WriteGate:
    """One SQLite writer at a time in this process; the gate opens on commit or rollback."""

    def __init__(self, wait_s: float = WRITE_GATE_WAIT_S) -> None:
        self._lock = threading.Lock()
        self._wait_s = wait_s
        self._holders: set[int] = set()

    def enter(self, dbapi_connection: Any) -> None:
        """Wait for the gate (503 after ``wait_s``) on behalf of ``dbapi_connection``."""
        if not self._lock.acquire(timeout=self._wait_s):
            raise Overloaded(
                "the database is busy with other writes; try again",
                code="database_busy",
                retry_after_s=1,
            )
        self._holders.add(_key(dbapi_connection))

    def leave(self, dbapi_connection: Any) -> None:
        """Open the gate if ``dbapi_connection`` holds it (its transaction ended)."""
        key = _key(dbapi_connection)
        if key in self._holders:
            self._holders.discard(key)
            self._lock.release()


def _key(connection: Any) -> int:
    """The identity of a DBAPI connection, also when given its pool wrapper."""
    return id(getattr(connection, "dbapi_connection", None) or connection)


def _install_sqlite_hooks(engine: Engine, gate: WriteGate) -> None:
    """Real transactions (SAVEPOINT-safe), WAL, foreign keys, and the write gate."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide where transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        if connection.get_execution_options().get(READ_ONLY, False):
            connection.exec_driver_sql("BEGIN")
            return
        dbapi_connection = connection.connection.dbapi_connection
        gate.enter(dbapi_connection)
        try:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            gate.leave(dbapi_connection)
            raise

    # A connection returned, dropped or closed mid-transaction must not keep the gate shut.
    def _release(dbapi_connection: Any, *_args: Any) -> None:
        if dbapi_connection is not None:
            gate.leave(dbapi_connection)

    for name in ("checkin", "invalidate", "soft_invalidate", "close", "close_detached"):
        event.listen(engine.pool, name, _release)

    _open_gate_after(engine, gate)


def _open_gate_after(engine: Engine, gate: WriteGate) -> None:
    """Open the gate once COMMIT or ROLLBACK has really run (events fire before them)."""
    dialect = engine.dialect
    commit, rollback = dialect.do_commit, dialect.do_rollback

    def do_commit(dbapi_connection: Any) -> None:
        try:
            commit(dbapi_connection)
        finally:
            gate.leave(dbapi_connection)

    def do_rollback(dbapi_connection: Any) -> None:
        try:
            rollback(dbapi_connection)
        finally:
            gate.leave(dbapi_connection)

    dialect.do_commit = do_commit  # type: ignore[method-assign]
    dialect.do_rollback = do_rollback  # type: ignore[method-assign]


_GATES: weakref.WeakKeyDictionary[Engine, WriteGate] = weakref.WeakKeyDictionary()


def write_gate(engine: Engine) -> WriteGate | None:
    """The write gate of an SQLite engine (None on other backends)."""
    return _GATES.get(engine)


def make_engine(url: str, *, pool_size: int = 10, pool_timeout_s: float = 30.0) -> Engine:
    """Build an engine for ``url`` with a fixed-size pool of ``pool_size`` connections."""
    sizing: dict[str, Any] = {
        "pool_size": pool_size,
        "max_overflow": 0,
        "pool_timeout": pool_timeout_s,
    }
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args=_prepare_sqlite(url), **sizing)
        gate = _GATES[engine] = WriteGate()
        _install_sqlite_hooks(engine, gate)
        return engine
    return create_engine(url, pool_pre_ping=True, **sizing)


def make_session_factory(engine: Engine, *, read_only: bool = False) -> sessionmaker[Session]:
    """Sessions that keep loaded objects usable after commit.

    ``read_only`` sessions never take SQLite's write lock and refuse to write anything.
    """
    if not read_only:
        return sessionmaker(bind=engine, expire_on_commit=False)
    factory = sessionmaker(
        bind=engine.execution_options(**{READ_ONLY: True}), expire_on_commit=False
    )
    event.listen(factory, "before_flush", _refuse_writes)
    return factory


def _refuse_writes(session: Session, _context: Any, _instances: Any) -> None:
    if session.new or session.dirty or session.deleted:
        raise RuntimeError("a read-only session (GET request) tried to write")


def redact_url(url: str) -> str:
    """The database URL with its password hidden, for pages and logs."""
    return make_url(url).render_as_string(hide_password=True)
