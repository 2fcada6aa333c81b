"""Fixtures of the image tests: a pool whose directory is real, on libvirt's test driver."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from cna_agent.images.intake import Intake
from cna_agent.protocol import PoolSpec
from cna_agent.virt.connection import Hypervisor
from cna_agent.virt.storage import Storage


def _pool(storage: Storage, directory: Path) -> str:
    directory.mkdir(exist_ok=True)
    return storage.ensure_pool(
        PoolSpec(name=f"ovrmtest-{uuid.uuid4().hex[:6]}", path=str(directory))
    ).name


@pytest.fixture
def storage(test_hv: Hypervisor) -> Storage:
    """Storage on the test driver: its pools are in memory, the files we write are real."""
    return Storage(test_hv)


@pytest.fixture
def intake(storage: Storage) -> Intake:
    return Intake(storage)


@pytest.fixture
def pool_dir(tmp_path: Path) -> Path:
    return tmp_path / "pool"


@pytest.fixture
def pool(storage: Storage, pool_dir: Path) -> str:
    """A test-driver pool whose target is ``pool_dir``."""
    return _pool(storage, pool_dir)


@pytest.fixture
def tiny_pool(storage: Storage, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A pool on a 2 MiB tmpfs, to fill up."""
    directory = tmp_path / "tiny"
    directory.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(directory)], check=True)
    try:
        yield _pool(storage, directory), directory
    finally:
        subprocess.run(["umount", str(directory)], check=True)
