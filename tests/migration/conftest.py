"""The migration tests share one two-host lab (``tests.migration.lab``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.migration.lab import Lab, migration_lab


@pytest.fixture(scope="package")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """Two hosts enrolled into one VRM, networks and a shared datastore ready."""
    with migration_lab(tmp_path_factory.mktemp("migration")) as made:
        yield made


@pytest.fixture
def vms(lab: Lab) -> Iterator[list[str]]:
    """VM ids a test made; removed afterwards whatever happened."""
    made: list[str] = []
    yield made
    for vm_id in made:
        lab.remove_vm(vm_id)
