"""Engine and session factory for SQLite (embedded) and PostgreSQL (production)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

# Execution option for connections that only read (ignored outside SQLite).
READ_ONLY = "openvrm_read_only"


def _prepare_sqlite(url: str) -> dict[str, Any]:
    """Create the database's folder and return the driver arguments SQLite needs."""
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    return {"check_same_thread": False, "timeout": 30}


def _install_sqlite_hooks(engine: Engine) -> None:
    """Give SQLite real, immediate transactions (SAVEPOINT-safe), WAL and foreign keys."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide where transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # IMMEDIATE takes the write lock at once. A deferred transaction that reads and
        # later writes fails outright (SQLITE_BUSY_SNAPSHOT, which busy_timeout does not
        # wait out) when another connection wrote in between; with IMMEDIATE writers
        # queue instead. Transactions are short: none is held across an agent call.
        # Read-only work (health probes) asks for a deferred transaction: it then reads the
        # last committed state without waiting for a writer.
        deferred = connection.get_execution_options().get(READ_ONLY, False)
        connection.exec_driver_sql("BEGIN" if deferred else "BEGIN IMMEDIATE")


def make_engine(url: str) -> Engine:
    """Build an engine for ``url`` with the settings each backend needs."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args=_prepare_sqlite(url))
        _install_sqlite_hooks(engine)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded objects usable after commit."""
    return sessionmaker(bind=engine, expire_on_commit=False)


def redact_url(url: str) -> str:
    """The database URL with its password hidden, for pages and logs."""
    return make_url(url).render_as_string(hide_password=True)
