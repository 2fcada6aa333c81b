"""The ``cna-agent`` command: run the agent, install it as a service, print the node's facts."""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError

from cna_agent import __version__
from cna_agent.config import Settings
from cna_agent.errors import AgentError

UNIT_NAME = "openvrm-cna-agent.service"
ENV_FILE = Path("etc/openvrm/cna-agent.env")
UNIT_FILE = Path("etc/systemd/system") / UNIT_NAME


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cna-agent", description="OpenVRM compute node agent")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="enroll if needed, then serve VRM and send heartbeats")
    install = commands.add_parser("install", help="write the config and a systemd unit")
    for sub in (run, install):
        sub.add_argument("--vrm-url", help="VRM's URL (CNA_VRM_URL)")
        sub.add_argument("--enroll-token", help="one-time enrollment token (CNA_ENROLL_TOKEN)")
        sub.add_argument("--libvirt-uri", help="libvirt URI (CNA_LIBVIRT_URI)")
        sub.add_argument("--state-dir", help="where the identity is kept (CNA_STATE_DIR)")
        sub.add_argument("--listen", help="host:port of the agent API (CNA_LISTEN)")
    install.add_argument("--root", default="/", help="install below this folder (for images)")
    commands.add_parser("facts", help="print what this node would report to VRM")
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    """Environment settings, overridden by command-line options."""
    overrides = {
        key: value
        for key in ("vrm_url", "enroll_token", "libvirt_uri", "state_dir", "listen")
        if (value := getattr(args, key, None)) is not None
    }
    return Settings(**overrides)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``cna-agent`` console script."""
    args = _parser().parse_args(argv)
    try:
        settings = _settings(args)
    except ValidationError as exc:
        print(f"cna-agent: invalid settings:\n{exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # One line per heartbeat request would drown what matters.
    logging.getLogger("httpx").setLevel(max(logging.WARNING, logging.root.level))
    try:
        if args.command == "facts":
            return _facts(settings)
        if args.command == "install":
            return _install(settings, Path(args.root))
        return _run(settings)
    except AgentError as exc:
        print(f"cna-agent: {exc.code}: {exc.message}", file=sys.stderr)
        return 1


def _facts(settings: Settings) -> int:
    from cna_agent.node import Node

    node = Node(settings)
    try:
        print(json.dumps(node.facts().model_dump(mode="json"), indent=2))
    finally:
        node.close()
    return 0


def _run(settings: Settings) -> int:
    import uvicorn

    from cna_agent.api.app import create_app
    from cna_agent.runtime import Agent, NotEnrolled, listen_address
    from cna_agent.vrm_link import VrmLinkError

    agent = Agent(settings)
    try:
        agent.prepare()
        agent.ensure_enrolled()
    except (NotEnrolled, VrmLinkError) as exc:
        print(f"cna-agent: cannot enroll: {exc}", file=sys.stderr)
        agent.stop()
        return 1
    agent.start_loops()
    host, port = listen_address(settings.listen)
    try:
        uvicorn.run(
            create_app(agent.node, lambda: agent.identity),
            host=host,
            port=port,
            log_level=settings.log_level,
            # websockets' sans-I/O protocol: uvicorn's default is its deprecated legacy one.
            ws="websockets-sansio",
        )
    finally:
        agent.stop()
    return 0


def _install(settings: Settings, root: Path) -> int:
    """Write the environment file and the systemd unit; print how to start the service."""
    if not settings.vrm_url or not settings.enroll_token:
        print("cna-agent: install needs --vrm-url and --enroll-token", file=sys.stderr)
        return 2
    env_file, unit_file = root / ENV_FILE, root / UNIT_FILE
    env_file.parent.mkdir(parents=True, exist_ok=True)
    env_file.write_text(_env_text(settings))
    env_file.chmod(0o600)
    unit_file.parent.mkdir(parents=True, exist_ok=True)
    unit_file.write_text(_unit_text(Path("/") / ENV_FILE))
    print(
        f"wrote {env_file} and {unit_file}\n"
        f"start it with: systemctl daemon-reload && systemctl enable --now {UNIT_NAME}"
    )
    return 0


def _env_text(settings: Settings) -> str:
    values = {
        "CNA_VRM_URL": settings.vrm_url,
        "CNA_ENROLL_TOKEN": settings.enroll_token,
        "CNA_LIBVIRT_URI": settings.libvirt_uri,
        "CNA_STATE_DIR": str(settings.state_dir),
        "CNA_LISTEN": settings.listen,
    }
    lines = [f"{key}={value}" for key, value in values.items() if value is not None]
    return "# OpenVRM CNA agent settings (see docs/configuration.md)\n" + "\n".join(lines) + "\n"


def _unit_text(env_file: Path) -> str:
    executable = shutil.which("cna-agent") or str(Path(sys.executable).with_name("cna-agent"))
    return f"""[Unit]
Description=OpenVRM CNA agent
Wants=libvirtd.service
After=network-online.target libvirtd.service

[Service]
EnvironmentFile={env_file}
ExecStart={executable} run
Restart=always
RestartSec=5

[Install]
WantedBy=multi-user.target
"""
