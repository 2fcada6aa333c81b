"""Test fixtures: real databases built by the migrations, on SQLite and on PostgreSQL.

Every test that uses ``engine``, ``session`` or ``client`` runs twice, once per
backend (ids ``[sqlite]`` and ``[postgresql]``). Each test runs inside a
transaction that is rolled back afterwards, so tests never see each other's rows.
"""

from __future__ import annotations

import contextlib
import os
from collections import Counter
from collections.abc import Callable, Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from tests.helpers import login
from tests.pgserver import create_database, postgres_server
from vrm.agents.directory import AgentClients
from vrm.app import create_app, install_state
from vrm.auth import service as auth_service
from vrm.auth.principal import Principal
from vrm.config import Settings
from vrm.db import make_engine
from vrm.deps import get_session
from vrm.flows import all_flows
from vrm.migrate import upgrade
from vrm.tasks.flow import TaskRuntime

BACKENDS = ("sqlite", "postgresql")


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A PostgreSQL server for the whole run: ``VRM_TEST_POSTGRES_URL`` or a throwaway one."""
    given = os.environ.get("VRM_TEST_POSTGRES_URL")
    if given:
        yield given
        return
    with postgres_server() as url:
        yield url


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The URL of an empty database of each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'vrm.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    """An engine over a database migrated to head with ``alembic upgrade head``."""
    eng = make_engine(database_url)
    upgrade(eng)
    yield eng
    eng.dispose()


@pytest.fixture(scope="session")
def committed_engine(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    """A second migrated database of the same backend, for tests whose writes really commit
    (threads, workers). Tests sharing it must only look at the rows they made."""
    if database_url.startswith("sqlite"):
        url = f"sqlite:///{tmp_path_factory.mktemp('committed') / 'vrm.db'}"
    else:
        url = create_database(database_url, "vrm_committed")
    eng = make_engine(url)
    upgrade(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """A session inside a transaction that is rolled back when the test ends."""
    connection = engine.connect()
    outer = connection.begin()
    db = Session(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)
    try:
        yield db
    finally:
        db.close()
        outer.rollback()
        connection.close()


@pytest.fixture
def settings(database_url: str) -> Settings:
    """Development settings pointing at the test database."""
    return Settings(database_url=database_url, env="development")


@pytest.fixture(scope="session")
def shared_app(database_url: str, engine: Engine) -> FastAPI:
    """One VRM app per backend for every test that needs one: FastAPI builds the state of
    its routes at an app's first request (a third of a second, a thousand times over)."""
    settings = Settings(database_url=database_url, env="development")
    return create_app(settings, engine, background_jobs=False)


@pytest.fixture
def app(shared_app: FastAPI, settings: Settings, engine: Engine, session: Session) -> FastAPI:
    """The VRM app whose requests all use the test's session, with fresh state (caches,
    load control, buffers, task runtime) as a new app would have."""
    application = shared_app
    install_state(application, TaskRuntime(settings, all_flows(), AgentClients()), engine)

    def _session() -> Iterator[Session]:
        try:
            yield session
        except BaseException:
            session.rollback()
            raise
        session.commit()

    # Closures here must not hold the app: FastAPI keeps overrides where the module-level
    # routers can reach them, which would keep every test's app alive.
    principals = application.state.principals

    def _request_session() -> Iterator[Session]:
        yield from _session()
        if session.info.pop("callers_changed", False):
            principals.clear()

    application.dependency_overrides[get_session] = _request_session
    # What is written behind (heartbeats, token uses) goes into the test's transaction too.
    scope = contextlib.contextmanager(_session)
    state = application.state
    state.heartbeats.write_scope = state.heartbeats.read_scope = scope
    state.token_uses.write_scope = scope
    state.write_scope = state.read_scope = scope
    return application


@pytest.fixture
def anon_client(app: FastAPI) -> Iterator[TestClient]:
    """A client without credentials."""
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


MakeUser = Callable[[str, str], Principal]


@pytest.fixture
def make_user(session: Session) -> MakeUser:
    """Create a user with a role and return it as a principal."""

    def _make(name: str, role: str) -> Principal:
        user = auth_service.create_user(session, name=name, password=f"{name}-pw-123", role=role)
        perms = {"admin": ["read", "write", "admin"], "operator": ["read", "write"]}
        return Principal(user.id, user.name, role, frozenset(perms.get(role, ["read"])))

    return _make


@pytest.fixture
def client(app: FastAPI, make_user: MakeUser) -> Iterator[TestClient]:
    """A client logged in as an admin."""
    make_user("root", "admin")
    with TestClient(app, raise_server_exceptions=False) as test_client:
        test_client.headers.update(login(test_client, "root"))
        yield test_client


@pytest.fixture
def admin(make_user: MakeUser) -> Principal:
    """An admin principal for calling services directly."""
    return make_user("svc-admin", "admin")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Show how many database tests ran on each backend."""
    counts: Counter[tuple[str, str]] = Counter()
    for outcome in ("passed", "failed", "error"):
        for report in terminalreporter.stats.get(outcome, []):
            nodeid = getattr(report, "nodeid", "")
            for backend in BACKENDS:
                if f"[{backend}" in nodeid or f"-{backend}]" in nodeid or f"-{backend}-" in nodeid:
                    counts[(backend, outcome)] += 1
    if counts:
        terminalreporter.section("database backends")
        for backend in BACKENDS:
            parts = [f"{counts[(backend, o)]} {o}" for o in ("passed", "failed", "error")]
            terminalreporter.write_line(f"{backend}: " + ", ".join(parts))
