"""Fresh databases for tests that need their own connections (concurrency, benchmarks).

The suite's ``session`` fixture runs each test inside one rolled-back transaction, which
cannot show what several connections do to each other. ``fresh_engine`` gives a new
database of each backend, migrated to head, that the test may commit to from as many
threads as it likes: a new SQLite file, or a new database on the test PostgreSQL server
(dropped afterwards). Other packages may reuse these fixtures by importing them.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from tests.conftest import BACKENDS
from tests.pgserver import admin_sql
from vrm.db import make_engine
from vrm.migrate import upgrade


def _postgres_database(server_url: str) -> Iterator[str]:
    """A new, empty database on the server at ``server_url``; dropped afterwards."""
    name = f"vrm_fresh_{uuid.uuid4().hex[:12]}"
    admin_sql(server_url, f'CREATE DATABASE "{name}"')
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        admin_sql(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=BACKENDS)
def fresh_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a new, empty database of each backend (ids ``sqlite``, ``postgresql``)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    yield from _postgres_database(request.getfixturevalue("postgres_url"))


@pytest.fixture
def fresh_engine(fresh_database_url: str) -> Iterator[Engine]:
    """An engine over a new database migrated to head; commits are real and stay."""
    engine = make_engine(fresh_database_url)
    upgrade(engine)
    try:
        yield engine
    finally:
        engine.dispose()
