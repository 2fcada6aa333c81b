"""The ``vrm`` command: serve the API and WebUI, migrate the database, manage users."""

from __future__ import annotations

import argparse
import gc
import getpass
import logging
import sys
from collections.abc import Sequence

from pydantic import ValidationError
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from vrm import __version__
from vrm.config import Settings
from vrm.db import make_engine, make_session_factory, redact_url
from vrm.errors import Conflict, VrmError
from vrm.migrate import current_revision, head_revision, upgrade

# Seconds an idle client connection stays open (uvicorn's default, 5, is below a
# heartbeat period, so every beat would pay for a new connection).
KEEP_ALIVE_S = 75


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vrm", description="OpenVRM Virtual Resource Manager")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="serve the REST API and the WebUI")
    serve.add_argument("--host", help="address to listen on (default: VRM_HOST)")
    serve.add_argument("--port", type=int, help="port to listen on (default: VRM_PORT)")
    serve.add_argument("--migrate", action="store_true", help="upgrade the database first")

    db = commands.add_parser("db", help="database schema").add_subparsers(
        dest="db_command", required=True
    )
    db.add_parser("upgrade", help="apply all migrations")
    db.add_parser("current", help="show the database's migration and the code's")

    user = commands.add_parser("user", help="users").add_subparsers(
        dest="user_command", required=True
    )
    create = user.add_parser("create", help="create a user")
    create.add_argument("name")
    create.add_argument("--role", default="operator", help="admin, operator or viewer")
    create.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    tokens = commands.add_parser("enrollment-token", help="agent enrollment tokens")
    token_create = tokens.add_subparsers(dest="token_command", required=True).add_parser(
        "create", help="print a one-time token with which a new CNA agent joins a cluster"
    )
    token_create.add_argument("--cluster", required=True, help="the cluster's name")
    token_create.add_argument(
        "--create-cluster", action="store_true", help="create the cluster when it does not exist"
    )
    token_create.add_argument("--ttl", type=int, help="lifetime in seconds")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``vrm`` console script."""
    args = _parser().parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as exc:
        print(f"vrm: invalid settings:\n{exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # Alembic narrates every connection at INFO; our commands say what matters.
    logging.getLogger("alembic").setLevel(max(logging.WARNING, logging.root.level))
    try:
        if args.command == "serve":
            return _serve(settings, args)
        if args.command == "enrollment-token":
            return _token_create(settings, args)
        if args.command == "db":
            return _db(settings, args.db_command)
        return _user_create(settings, args)
    except VrmError as exc:
        print(f"vrm: {exc.message}", file=sys.stderr)
        return 1
    except SQLAlchemyError as exc:
        # A database that is down or refuses us is an operator's problem, not a traceback.
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        print(
            f"vrm: cannot use the database {redact_url(settings.database_url)}: {reason}",
            file=sys.stderr,
        )
        return 3


def _db(settings: Settings, command: str) -> int:
    engine = make_engine(settings.database_url)
    try:
        if command == "upgrade":
            upgrade(engine)
            print(f"database {redact_url(settings.database_url)} is at {current_revision(engine)}")
            return 0
        current, head = current_revision(engine), head_revision()
        print(f"database: {current or 'empty'}\ncode:     {head}")
        return 0 if current == head else 3
    finally:
        engine.dispose()


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from vrm.app import create_app
    from vrm.auth.service import ensure_admin
    from vrm.config import db_pool_size

    engine = make_engine(settings.database_url, pool_size=db_pool_size(settings))
    if args.migrate:
        upgrade(engine)
    if not _is_migrated(engine):
        return 3
    try:
        with make_session_factory(engine).begin() as session:
            generated = ensure_admin(session, password=settings.admin_password)
    except Conflict:
        generated = None  # another VRM process starting at the same time created it
    if generated:
        _announce_admin(generated)
    app = create_app(settings, engine)
    # Everything loaded so far lives as long as the process: keep it out of the garbage
    # collector's full passes, which otherwise stall a request now and then (see
    # docs/benchmarks.md).
    gc.collect()
    gc.freeze()
    uvicorn.run(
        app,
        host=args.host or settings.host,
        port=args.port or settings.port,
        log_level=settings.log_level,
        # Agents keep one connection and beat every 10 s: keep it open between beats.
        timeout_keep_alive=KEEP_ALIVE_S,
        # Console websockets; uvicorn's legacy websockets implementation is deprecated.
        ws="websockets-sansio",
    )
    return 0


def _is_migrated(engine: Engine) -> bool:
    """Whether the database is at the code's migration; says what to do when not."""
    if current_revision(engine) == head_revision():
        return True
    print("vrm: the database is not at the latest migration; run `vrm db upgrade`", file=sys.stderr)
    return False


def _announce_admin(password: str) -> None:
    """Show a generated admin password; it is never shown again."""
    line = "=" * 64
    print(
        f"{line}\nCreated user 'admin' with password: {password}\n"
        f"It is shown only this once. Set VRM_ADMIN_PASSWORD to choose one.\n{line}",
        flush=True,
    )


def _user_create(settings: Settings, args: argparse.Namespace) -> int:
    from vrm.auth.service import create_user

    engine = make_engine(settings.database_url)
    try:
        if not _is_migrated(engine):
            return 3
        password, generated = _read_password(args.password_stdin)
        if password is None:
            return 1
        with make_session_factory(engine).begin() as session:
            create_user(session, name=args.name, password=password, role=args.role)
    finally:
        engine.dispose()
    print(
        f"created user {args.name!r} with role {args.role!r}"
        + (f"; password: {password}" if generated else "")
    )
    return 0


def _read_password(from_stdin: bool) -> tuple[str | None, bool]:
    """The new user's password and whether it was generated; None when the two entries differ."""
    from vrm.auth.security import generate_password

    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif sys.stdin.isatty():
        password = getpass.getpass("Password: ")
        if password != getpass.getpass("Again: "):
            print("vrm: the passwords differ", file=sys.stderr)
            return None, False
    else:
        password = ""
    return (password, False) if password else (generate_password(), True)


def _token_create(settings: Settings, args: argparse.Namespace) -> int:
    """Print a new enrollment token (only the token, for scripts)."""
    from vrm.agents.enrollment import issue_local_token

    engine = make_engine(settings.database_url)
    try:
        if not _is_migrated(engine):
            return 3
        with make_session_factory(engine).begin() as session:
            secret = issue_local_token(
                session,
                cluster_name=args.cluster,
                create_cluster=args.create_cluster,
                ttl_s=args.ttl or settings.enrollment_token_ttl_s,
            )
    finally:
        engine.dispose()
    print(secret)
    return 0
