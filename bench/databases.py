"""Fresh databases for benchmarks: an SQLite file, or a new database on a PostgreSQL server."""

from __future__ import annotations

import contextlib
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy.engine import make_url

from tests.pgserver import admin_sql, postgres_server


@contextlib.contextmanager
def sqlite_database() -> Iterator[str]:
    """A new SQLite file in a temporary folder."""
    with tempfile.TemporaryDirectory(prefix="vrm-bench-") as folder:
        yield f"sqlite:///{Path(folder) / 'bench.db'}"


@contextlib.contextmanager
def postgres_database(server_url: str | None) -> Iterator[str]:
    """A new database on ``server_url``, or on a throwaway server; dropped afterwards."""
    with contextlib.ExitStack() as stack:
        if server_url is None:
            server_url = stack.enter_context(postgres_server())
        name = f"vrm_bench_{uuid.uuid4().hex[:10]}"
        admin_sql(server_url, f'CREATE DATABASE "{name}"')
        stack.callback(admin_sql, server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
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
