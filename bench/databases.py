"""Fresh databases for benchmarks: an SQLite file, or a new database on a PostgreSQL server."""

from __future__ import annotations

import contextlib
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url

from vrm.db import make_engine


@contextlib.contextmanager
def sqlite_database() -> Iterator[str]:
    """A new SQLite file in a temporary folder."""
    with tempfile.TemporaryDirectory(prefix="vrm-bench-") as folder:
        yield f"sqlite:///{Path(folder) / 'bench.db'}"


def _admin(server_url: str, statement: str) -> None:
    engine = make_engine(server_url)
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text(statement))
    finally:
        engine.dispose()


@contextlib.contextmanager
def postgres_database(server_url: str | None) -> Iterator[str]:
    """A new database on ``server_url``, or on a throwaway server; dropped afterwards."""
    with contextlib.ExitStack() as stack:
        if server_url is None:
            from tests.pgserver import postgres_server

            server_url = stack.enter_context(postgres_server())
        name = f"vrm_bench_{uuid.uuid4().hex[:10]}"
        _admin(server_url, f'CREATE DATABASE "{name}"')
        stack.callback(_admin, server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)


@contextlib.contextmanager
def database(backend: str, server_url: str | None = None) -> Iterator[str]:
    """A fresh database of ``backend`` (``sqlite`` or ``postgresql``), removed afterwards."""
    if backend == "sqlite":
        with sqlite_database() as url:
            yield url
    else:
        with postgres_database(server_url) as url:
            yield url
