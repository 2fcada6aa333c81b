"""The ``cna-agent`` console script, run for real."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

AGENT = str(Path(sys.executable).with_name("cna-agent"))


def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [AGENT, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **env},
        check=False,
    )


def test_install_writes_a_private_env_file_and_a_systemd_unit(tmp_path: Path) -> None:
    done = run(
        "install",
        "--root",
        str(tmp_path),
        "--vrm-url",
        "http://vrm.lab:8000",
        "--enroll-token",
        "enroll_abc",
        "--listen",
        "0.0.0.0:7070",
    )
    assert done.returncode == 0, done.stderr
    env_file = tmp_path / "etc/openvrm/cna-agent.env"
    assert env_file.stat().st_mode & 0o777 == 0o600, "the token must not be world-readable"
    settings = dict(
        line.split("=", 1)
        for line in env_file.read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert settings["CNA_VRM_URL"] == "http://vrm.lab:8000"
    assert settings["CNA_ENROLL_TOKEN"] == "enroll_abc"
    assert settings["CNA_LISTEN"] == "0.0.0.0:7070"
    unit = (tmp_path / "etc/systemd/system/openvrm-cna-agent.service").read_text()
    assert "EnvironmentFile=/etc/openvrm/cna-agent.env" in unit
    assert f"ExecStart={AGENT} run" in unit
    assert "Restart=always" in unit
    assert "systemctl enable --now openvrm-cna-agent.service" in done.stdout


def test_install_needs_vrm_url_and_token(tmp_path: Path) -> None:
    done = run("install", "--root", str(tmp_path))
    assert done.returncode == 2
    assert "--vrm-url and --enroll-token" in done.stderr
    assert not (tmp_path / "etc").exists()


def test_facts_prints_the_nodes_json() -> None:
    done = run("facts", CNA_LIBVIRT_URI="test:///default")
    assert done.returncode == 0, done.stderr
    facts = json.loads(done.stdout)
    assert facts["domain_type"] == "test"
    assert facts["memory_mib"] > 0


def test_run_without_identity_or_token_explains_and_exits(tmp_path: Path) -> None:
    done = run(
        "run",
        CNA_LIBVIRT_URI="test:///default",
        CNA_STATE_DIR=str(tmp_path),
        CNA_POOL_DIR=str(tmp_path / "pool"),
        CNA_DEFAULT_POOL="ovrmtest-cli",
    )
    assert done.returncode == 1
    assert "--enroll-token" in done.stderr
    assert "Traceback" not in done.stderr


def test_bad_settings_are_reported_without_traceback() -> None:
    done = run("facts", CNA_DOMAIN_TYPE="xen")
    assert done.returncode == 2
    assert "domain_type" in done.stderr
    assert "Traceback" not in done.stderr
