"""A throwaway PostgreSQL server for the test suite, on a free 127.0.0.1 port."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy.engine import make_url

from vrm.db import make_engine


class PostgresNotInstalled(RuntimeError):
    """No PostgreSQL server binaries on this machine."""


def find_bindir() -> Path:
    """The newest ``/usr/lib/postgresql/N/bin`` that holds ``initdb`` and ``pg_ctl``."""
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    for bindir in reversed(candidates):
        if (bindir / "initdb").exists() and (bindir / "pg_ctl").exists():
            return bindir
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    raise PostgresNotInstalled(
        "PostgreSQL is not installed; `make test` installs it (apt-get install postgresql)"
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _as_postgres(cmd: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: drop to the ``postgres`` user when we are root."""
    if os.geteuid() != 0:
        return cmd
    return ["runuser", "-u", "postgres", "--", *cmd]


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """Start a fresh server in a temporary folder; yield its SQLAlchemy URL; stop it."""
    bindir = find_bindir()
    workdir = Path(tempfile.mkdtemp(prefix="openvrm-pg-"))
    datadir = workdir / "data"
    if os.geteuid() == 0:
        entry = pwd.getpwnam("postgres")
        os.chown(workdir, entry.pw_uid, entry.pw_gid)
    port = _free_port()
    run = subprocess.run
    run(
        _as_postgres(
            [
                str(bindir / "initdb"),
                "-D",
                str(datadir),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
                "-E",
                "UTF8",
            ]
        ),
        check=True,
        capture_output=True,
    )
    options = (
        f"-p {port} -k {workdir} -c listen_addresses=127.0.0.1 -c fsync=off "
        "-c full_page_writes=off -c synchronous_commit=off -c max_connections=200"
    )
    run(
        _as_postgres(
            [
                str(bindir / "pg_ctl"),
                "-D",
                str(datadir),
                "-o",
                options,
                "-w",
                "-l",
                str(workdir / "server.log"),
                "start",
            ]
        ),
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        run(
            _as_postgres(
                [str(bindir / "pg_ctl"), "-D", str(datadir), "-m", "immediate", "-w", "stop"]
            ),
            check=False,
            capture_output=True,
        )
        shutil.rmtree(workdir, ignore_errors=True)


def admin_sql(server_url: str, statement: str) -> None:
    """Run ``statement`` on the server outside a transaction (CREATE/DROP DATABASE need it)."""
    admin = make_engine(server_url)
    try:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql(statement)
    finally:
        admin.dispose()


def create_database(server_url: str, name: str) -> str:
    """A new empty database on the server of ``server_url``; its URL."""
    admin_sql(server_url, f'DROP DATABASE IF EXISTS "{name}"')
    admin_sql(server_url, f'CREATE DATABASE "{name}"')
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)
