"""The engine's concurrency rules: reads never wait for writers, writers pass one gate."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from vrm.db import make_engine, make_session_factory, write_gate
from vrm.errors import Overloaded
from vrm.models import Site


@pytest.fixture
def sqlite(tmp_path: Path) -> Iterator[Engine]:
    """An SQLite file database with one table."""
    engine = make_engine(f"sqlite:///{tmp_path / 'gate.db'}", pool_size=4)
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE t (v INTEGER)")
        connection.exec_driver_sql("INSERT INTO t VALUES (1)")
    yield engine
    engine.dispose()


def _read(engine: Engine) -> int:
    with make_session_factory(engine, read_only=True)() as session:
        return int(session.execute(text("SELECT count(*) FROM t")).scalar_one())


def test_reads_do_not_wait_for_a_writer(sqlite: Engine) -> None:
    writes = make_session_factory(sqlite)
    with writes() as writer:
        writer.execute(text("INSERT INTO t VALUES (2)"))
        # The writer holds SQLite's write lock; a read sees the last committed state now.
        done: list[int] = []
        reader = threading.Thread(target=lambda: done.append(_read(sqlite)))
        reader.start()
        reader.join(timeout=5)
        assert done == [1]
        writer.commit()
    assert _read(sqlite) == 2


def test_writers_take_turns_and_the_gate_opens_on_commit_and_rollback(sqlite: Engine) -> None:
    writes = make_session_factory(sqlite)
    order: list[str] = []

    def second() -> None:
        with writes() as session:
            session.execute(text("INSERT INTO t VALUES (3)"))
            order.append("second")
            session.commit()

    with writes() as first:
        first.execute(text("INSERT INTO t VALUES (2)"))
        other = threading.Thread(target=second)
        other.start()
        time.sleep(0.2)
        assert order == [], "the second writer waits for the first"
        order.append("first")
        first.rollback()
    other.join(timeout=5)
    assert order == ["first", "second"]
    with writes() as session:  # a session closed mid-transaction gives the gate back too
        session.execute(text("INSERT INTO t VALUES (4)"))
    with writes.begin() as session:
        session.execute(text("INSERT INTO t VALUES (5)"))
    assert _read(sqlite) == 3


def test_a_writer_that_waits_too_long_gets_503(
    sqlite: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = write_gate(sqlite)
    assert gate is not None
    monkeypatch.setattr(gate, "_wait_s", 0.1)
    writes = make_session_factory(sqlite)
    with writes() as first:
        first.execute(text("INSERT INTO t VALUES (2)"))
        failed: list[BaseException] = []

        def second() -> None:
            try:
                with writes() as session:
                    session.execute(text("INSERT INTO t VALUES (3)"))
            except Overloaded as exc:
                failed.append(exc)

        other = threading.Thread(target=second)
        other.start()
        other.join(timeout=5)
        assert failed
        assert getattr(failed[0], "code", "") == "database_busy"
        first.commit()


def test_read_only_sessions_refuse_to_write(engine: Engine) -> None:
    with make_session_factory(engine, read_only=True)() as session:
        session.add(Site(name="never-written"))
        with pytest.raises(RuntimeError, match="read-only session"):
            session.flush()
        session.rollback()
