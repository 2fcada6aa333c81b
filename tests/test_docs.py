"""docs/configuration.md lists every setting of both processes, with its real default."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic_settings import BaseSettings

from cna_agent.config import Settings as AgentSettings
from vrm.config import Settings as VrmSettings

ROOT = Path(__file__).resolve().parent.parent
CONFIGURATION = ROOT / "docs" / "configuration.md"
# | `VRM_PORT` | `8000` | meaning |   or   | `VRM_ADMIN_PASSWORD` | (unset) | meaning |
ROW = re.compile(r"^\| `((?:VRM|CNA)_[A-Z0-9_]+)` \| (`[^`]*`|\(unset\)) \| (.+) \|$", re.MULTILINE)
SETTINGS: dict[str, type[BaseSettings]] = {"VRM_": VrmSettings, "CNA_": AgentSettings}


def _documented() -> dict[str, tuple[str, str]]:
    """Variable name → (default as written, meaning), from the tables."""
    rows = ROW.findall(CONFIGURATION.read_text())
    names = [name for name, _, _ in rows]
    assert len(names) == len(set(names)), "a variable is documented twice"
    return {name: (default, meaning) for name, default, meaning in rows}


def _shown(default: object) -> str:
    """How the tables write a default."""
    return "(unset)" if default is None else f"`{default}`"


def _fields(prefix: str) -> dict[str, object]:
    """Environment variable name → default, for every field of the settings class."""
    fields = SETTINGS[prefix].model_fields
    return {f"{prefix}{name.upper()}": field.default for name, field in fields.items()}


@pytest.mark.parametrize("prefix", list(SETTINGS))
def test_every_field_is_documented_with_its_default(prefix: str) -> None:
    documented = _documented()
    fields = _fields(prefix)
    assert len(fields) >= 8
    missing = sorted(set(fields) - set(documented))
    assert missing == [], f"add these to docs/configuration.md: {missing}"
    for name, default in fields.items():
        assert documented[name][0] == _shown(default), f"{name}: the default changed"
        assert len(documented[name][1].strip()) > 10, f"{name}: say what it means"


def test_no_stale_variables_are_documented() -> None:
    known = set(_fields("VRM_")) | set(_fields("CNA_"))
    stale = sorted(set(_documented()) - known)
    assert stale == [], f"not settings any more, remove from docs/configuration.md: {stale}"


def test_every_variable_named_in_the_docs_exists() -> None:
    known = set(_fields("VRM_")) | set(_fields("CNA_"))
    for page in (CONFIGURATION, ROOT / "docs" / "postgresql.md"):
        named = set(re.findall(r"\b(?:VRM|CNA)_[A-Z0-9_]*[A-Z0-9]\b", page.read_text()))
        named.discard("VRM_TEST_POSTGRES_URL")  # the test suite's, not VRM's
        assert named <= known, f"{page.name} names unknown settings: {sorted(named - known)}"
