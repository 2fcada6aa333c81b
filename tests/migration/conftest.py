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
