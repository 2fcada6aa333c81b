"""The real ``vrm`` console script, run as a subprocess over temporary SQLite databases."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from vrm import __version__
from vrm.app import create_app
from vrm.config import Settings
from vrm.db import make_engine
from vrm.migrate import head_revision

VRM = Path(sys.executable).parent / "vrm"
STARTUP_BOUND_S = 20.0
ANNOUNCEMENT = re.compile(r"Created user 'admin' with password: (\S+)")


def _environment(database: Path, **extra: str) -> dict[str, str]:
    """Our environment without any VRM_ setting, pointing VRM at ``database``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VRM_")}
    env.update(VRM_DATABASE_URL=f"sqlite:///{database}", VRM_LOG_LEVEL="warning", **extra)
    return env


def vrm(database: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """Run ``vrm ARGS`` to completion over ``database``."""
    return subprocess.run(
        [str(VRM), *args],
        input=stdin,
        env=_environment(database),
        cwd=database.parent,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _assert_clean_failure(result: subprocess.CompletedProcess[str], message: str) -> None:
    assert result.returncode != 0, result.stdout
    assert message in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


@pytest.fixture(scope="module")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One database migrated by ``vrm db upgrade``; tests work on copies of it."""
    database = tmp_path_factory.mktemp("template") / "vrm.db"
    result = vrm(database, "db", "upgrade")
    assert result.returncode == 0, result.stderr
    return database


@pytest.fixture
def migrated(migrated_template: Path, tmp_path: Path) -> Path:
    """A migrated database of this test's own."""
    database = tmp_path / "vrm.db"
    for suffix in ("", "-wal", "-shm"):
        source = migrated_template.with_name(migrated_template.name + suffix)
        if source.exists():
            shutil.copyfile(source, database.with_name(database.name + suffix))
    return database


def _can_log_in(database: Path, name: str, password: str) -> bool:
    """Whether ``name`` logs in with ``password`` through the app over ``database``."""
    engine = make_engine(f"sqlite:///{database}")
    try:
        app = create_app(
            Settings(database_url=f"sqlite:///{database}"), engine, background_jobs=False
        )
        with TestClient(app) as client:
            response = client.post(
                "/api/v1/auth/token", data={"username": name, "password": password}
            )
    finally:
        engine.dispose()
    assert response.status_code in (200, 401), response.text
    return response.status_code == 200


def test_version() -> None:
    result = subprocess.run(
        [str(VRM), "--version"], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == f"vrm {__version__}"


def test_db_current_on_an_empty_database_exits_3(tmp_path: Path) -> None:
    result = vrm(tmp_path / "x.db", "db", "current")
    assert result.returncode == 3
    assert "database: empty" in result.stdout


def test_db_upgrade_then_current_is_head(tmp_path: Path) -> None:
    database = tmp_path / "x.db"
    upgraded = vrm(database, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    current = vrm(database, "db", "current")
    assert current.returncode == 0, current.stderr
    head = head_revision()
    assert head
    assert f"database: {head}" in current.stdout
    assert f"code:     {head}" in current.stdout


def test_user_create_makes_a_user_who_can_log_in(migrated: Path) -> None:
    result = vrm(
        migrated,
        "user",
        "create",
        "alice",
        "--role",
        "viewer",
        "--password-stdin",
        stdin="alice-secret-1\n",
    )
    assert result.returncode == 0, result.stderr
    assert "created user 'alice' with role 'viewer'" in result.stdout
    assert "alice-secret-1" not in result.stdout
    assert _can_log_in(migrated, "alice", "alice-secret-1")
    assert not _can_log_in(migrated, "alice", "wrong-password")


def test_user_create_without_a_password_generates_one(migrated: Path) -> None:
    result = vrm(migrated, "user", "create", "gen", "--password-stdin", stdin="\n")
    assert result.returncode == 0, result.stderr
    match = re.search(r"password: (\S+)", result.stdout)
    assert match, result.stdout
    assert _can_log_in(migrated, "gen", match[1])


def test_duplicate_user_fails_cleanly(migrated: Path) -> None:
    first = vrm(migrated, "user", "create", "bob", "--password-stdin", stdin="bob-pw-1\n")
    assert first.returncode == 0, first.stderr
    second = vrm(migrated, "user", "create", "bob", "--password-stdin", stdin="other-pw\n")
    _assert_clean_failure(second, "a user named 'bob' already exists")
    assert _can_log_in(migrated, "bob", "bob-pw-1")


def test_unknown_role_fails_cleanly(migrated: Path) -> None:
    result = vrm(
        migrated,
        "user",
        "create",
        "eve",
        "--role",
        "emperor",
        "--password-stdin",
        stdin="eve-pw-123\n",
    )
    _assert_clean_failure(result, "no role named 'emperor'")
    assert not _can_log_in(migrated, "eve", "eve-pw-123")


def test_user_create_on_an_unmigrated_database_exits_3(tmp_path: Path) -> None:
    result = vrm(tmp_path / "x.db", "user", "create", "al", "--password-stdin", stdin="pw-1234\n")
    assert result.returncode == 3
    _assert_clean_failure(result, "vrm db upgrade")


def test_serve_on_an_unmigrated_database_exits_3(tmp_path: Path) -> None:
    result = vrm(tmp_path / "x.db", "serve", "--port", str(_free_port()))
    assert result.returncode == 3
    _assert_clean_failure(result, "not at the latest migration; run `vrm db upgrade`")


def test_unreachable_database_fails_cleanly(tmp_path: Path) -> None:
    env = _environment(tmp_path / "unused.db")
    env["VRM_DATABASE_URL"] = "postgresql+psycopg://postgres@127.0.0.1:1/x?connect_timeout=2"
    result = subprocess.run(
        [str(VRM), "db", "current"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 3
    _assert_clean_failure(result, "cannot use the database postgresql+psycopg://postgres@")


def test_invalid_settings_exit_2(tmp_path: Path) -> None:
    env = _environment(tmp_path / "x.db", VRM_ENV="production")
    result = subprocess.run(
        [str(VRM), "db", "current"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "VRM_SECRET_KEY" in result.stderr
    assert "Traceback" not in result.stderr


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Server:
    """A ``vrm serve`` process; its stdout and stderr go to files we read afterwards."""

    def __init__(self, database: Path, port: int, log_dir: Path) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.stdout_path = log_dir / f"stdout-{port}.txt"
        self.stderr_path = log_dir / f"stderr-{port}.txt"
        with self.stdout_path.open("w") as out, self.stderr_path.open("w") as err:
            self.process = subprocess.Popen(
                [str(VRM), "serve", "--host", "127.0.0.1", "--port", str(port)],
                env=_environment(database),
                cwd=database.parent,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
            )

    def output(self) -> str:
        """Everything the server printed so far, both streams."""
        return self.stdout_path.read_text() + self.stderr_path.read_text()

    def wait_until_up(self) -> None:
        """Poll /healthz until it answers, the process dies, or the bound passes."""
        deadline = time.monotonic() + STARTUP_BOUND_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"vrm serve exited with {self.process.returncode}:\n{self.output()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)  # a polling interval, bounded by the deadline
        pytest.fail(f"vrm serve did not answer within {STARTUP_BOUND_S} s:\n{self.output()}")

    def stop(self) -> None:
        """Terminate the process and reap it, killing it if it will not stop."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


StartServer = Callable[[], Server]


@pytest.fixture
def serve(migrated: Path, tmp_path: Path) -> Iterator[StartServer]:
    """Start servers over this test's migrated database; every one is stopped afterwards."""
    started: list[Server] = []

    def _start() -> Server:
        server = Server(migrated, _free_port(), tmp_path)
        started.append(server)
        return server

    try:
        yield _start
    finally:
        for server in started:
            server.stop()


def _token(url: str, name: str, password: str) -> httpx.Response:
    return httpx.post(
        f"{url}/api/v1/auth/token", data={"username": name, "password": password}, timeout=10
    )


def test_first_start_prints_the_admin_password_once(serve: StartServer) -> None:
    first = serve()
    first.wait_until_up()
    match = ANNOUNCEMENT.search(first.stdout_path.read_text())
    assert match, first.output()
    password = match[1]
    response = _token(first.url, "admin", password)
    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    clusters = httpx.get(
        f"{first.url}/api/v1/clusters", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    assert clusters.status_code == 200
    assert _token(first.url, "admin", password + "x").status_code == 401
    first.stop()
    assert first.process.returncode is not None

    second = serve()
    second.wait_until_up()
    assert "password" not in second.stdout_path.read_text().lower(), second.output()
    assert _token(second.url, "admin", password).status_code == 200
