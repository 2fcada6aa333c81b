"""docker-compose.yml and the Dockerfile, checked by parsing (no Docker engine needed)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from cna_agent.config import Settings as AgentSettings
from vrm import paths
from vrm.config import Settings as VrmSettings

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
PREFIXES: dict[str, type[VrmSettings] | type[AgentSettings]] = {
    "VRM_": VrmSettings,
    "CNA_": AgentSettings,
}
# `${NAME}`, `${NAME:-default}`, `${NAME:?message}`: compose interpolation from the user's shell.
INTERPOLATION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?[-?][^}]*)?\}")


def _compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


def _service(name: str) -> dict[str, Any]:
    service: dict[str, Any] = _compose()["services"][name]
    return service


def _environment(service: dict[str, Any]) -> dict[str, str]:
    """A service's environment, whether written as a mapping or as a list of NAME=value."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def _all_variable_names() -> set[str]:
    """Every variable compose sets in a container or reads from the user's shell."""
    names: set[str] = set()
    for service in _compose()["services"].values():
        names |= set(_environment(service))
    names |= set(INTERPOLATION.findall(COMPOSE.read_text()))
    return names


def _is_field(name: str) -> bool:
    for prefix, settings in PREFIXES.items():
        if name.startswith(prefix):
            return name.removeprefix(prefix).lower() in settings.model_fields
    return True  # not ours (POSTGRES_PASSWORD, ...)


def test_the_three_services_exist() -> None:
    assert set(_compose()["services"]) == {"postgres", "vrm", "cna-agent"}


@pytest.mark.parametrize("prefix", list(PREFIXES))
def test_every_setting_variable_is_a_settings_field(prefix: str) -> None:
    names = {n for n in _all_variable_names() if n.startswith(prefix)}
    assert len(names) >= 4, f"expected several {prefix} variables, found {names}"
    unknown = sorted(n for n in names if not _is_field(n))
    assert unknown == [], f"not fields of {PREFIXES[prefix].__module__}.Settings: {unknown}"


def test_the_field_check_catches_a_misspelling() -> None:
    assert _is_field("VRM_DATABASE_URL")
    assert _is_field("CNA_LIBVIRT_URI")
    assert not _is_field("VRM_DB_URL")
    assert not _is_field("CNA_LIBVIRT_URL")


def test_postgres_keeps_its_data_and_reports_health() -> None:
    postgres = _service("postgres")
    assert postgres["image"] == "postgres:15"
    volume = postgres["volumes"][0].split(":")[0]
    assert volume in _compose()["volumes"], "the data volume must be a named volume"
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])


def test_vrm_serves_production_on_postgresql_after_postgres_is_healthy() -> None:
    vrm = _service("vrm")
    env = _environment(vrm)
    assert env["VRM_ENV"] == "production"
    assert env["VRM_DATABASE_URL"].startswith("postgresql+psycopg://")
    assert "@postgres:5432/" in env["VRM_DATABASE_URL"]
    assert vrm["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert vrm["command"] == ["vrm", "serve", "--migrate", "--host", "0.0.0.0"]
    assert "8000:8000" in vrm["ports"]
    assert "/readyz" in " ".join(vrm["healthcheck"]["test"])


@pytest.mark.parametrize("name", ["VRM_SECRET_KEY", "VRM_ADMIN_PASSWORD"])
def test_compose_refuses_to_start_without_the_secrets(name: str) -> None:
    value = _environment(_service("vrm"))[name]
    assert re.fullmatch(rf"\$\{{{name}:\?[^}}]+\}}", value), value


def test_the_agent_is_privileged_and_reaches_the_host_libvirt() -> None:
    agent = _service("cna-agent")
    env = _environment(agent)
    assert agent["privileged"] is True
    assert agent["network_mode"] == "host"
    assert agent["command"] == ["cna-agent", "run"]
    assert "/var/run/libvirt:/var/run/libvirt" in agent["volumes"]
    # The consoles it relays: QEMU's VNC sockets and the serial ports' pseudo terminals.
    assert "/var/lib/libvirt/qemu:/var/lib/libvirt/qemu" in agent["volumes"]
    assert "/dev/pts:/dev/pts" in agent["volumes"]
    assert env["CNA_LIBVIRT_URI"] == "qemu:///system"
    assert env["CNA_ENROLL_TOKEN"] == "${CNA_ENROLL_TOKEN:-}"
    # Bound at the same path: libvirtd and QEMU on the host open the files it names there.
    state = env["CNA_STATE_DIR"]
    assert f"{state}:{state}" in agent["volumes"]
    assert "/var/run/openvswitch:/var/run/openvswitch" in agent["volumes"]


def test_the_image_has_the_node_tools_the_agent_runs() -> None:
    install = " ".join(DOCKERFILE.read_text().split())
    for package in ("openvswitch-switch", "iproute2", "libvirt-dev"):
        assert package in install


def test_vrm_reaches_the_agent_through_the_host() -> None:
    agent_url = _environment(_service("cna-agent"))["CNA_ADVERTISE_URL"]
    listen_port = _environment(_service("cna-agent"))["CNA_LISTEN"].rsplit(":", 1)[1]
    assert agent_url == f"http://host.docker.internal:{listen_port}"
    assert "host.docker.internal:host-gateway" in _service("vrm")["extra_hosts"]


def test_vrm_and_agent_run_the_image_built_from_this_tree() -> None:
    vrm, agent = _service("vrm"), _service("cna-agent")
    assert vrm["build"] == agent["build"] == "."
    assert vrm["image"] == agent["image"]


def test_dockerfile_installs_the_source_tree_editable() -> None:
    text = DOCKERFILE.read_text()
    assert re.search(r"^FROM python:3\.11-slim-bookworm$", text, re.MULTILINE)
    assert re.search(r"apt-get install .*libvirt-dev pkg-config gcc", text)
    assert re.search(r"^COPY \. /app$", text, re.MULTILINE)
    # vrm/paths.py finds migrations/ and web/ beside the packages: a plain install would not.
    assert re.search(r"pip install (\S+ )*-e \.", text)


def test_the_source_tree_ships_what_vrm_paths_expects() -> None:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    ignored = [line.strip().strip("/") for line in lines if line.strip()[:1] not in ("", "#")]
    assert ".venv" in ignored
    for folder in (paths.MIGRATIONS_DIR, paths.TEMPLATES_DIR, paths.STATIC_DIR):
        assert folder.is_dir(), folder
        relative = folder.relative_to(ROOT).as_posix()
        assert not any(relative.startswith(entry) for entry in ignored), relative


def _vrm_environment_with(secret: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Put the vrm service's environment in ours, as compose would after interpolation."""
    for name in list(VrmSettings.model_fields):
        monkeypatch.delenv(f"VRM_{name.upper()}", raising=False)
    values = {"VRM_SECRET_KEY": secret, "POSTGRES_PASSWORD": "pw"}

    def interpolate(match: re.Match[str]) -> str:
        return values.get(match[1], "x")

    for name, value in _environment(_service("vrm")).items():
        monkeypatch.setenv(name, INTERPOLATION.sub(interpolate, value))


def test_the_compose_settings_load_with_a_long_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    _vrm_environment_with("s" * 40, monkeypatch)
    settings = VrmSettings()
    assert settings.env == "production"
    assert settings.database_url == "postgresql+psycopg://vrm:pw@postgres:5432/vrm"


def test_the_compose_settings_refuse_a_short_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    _vrm_environment_with("s" * 31, monkeypatch)
    with pytest.raises(ValidationError, match="at least 32 characters"):
        VrmSettings()


def test_production_needs_a_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VRM_SECRET_KEY", raising=False)
    with pytest.raises(ValidationError, match="development default"):
        VrmSettings(env="production")
    settings = VrmSettings(env="production", secret_key="k" * 40)
    assert settings.secret_key == "k" * 40
