"""Datastore sources: directories and NFS exports (no database needed)."""

from __future__ import annotations

import pytest

from vrm.models.enums import DatastoreType
from vrm.storage.sources import check_source

DIRS = (DatastoreType.LOCAL_DIR, DatastoreType.SHARED_DIR)


@pytest.mark.parametrize("kind", DIRS)
@pytest.mark.parametrize("path", ["/var/lib/vrm/ds1", "/data", "/mnt/shared storage/a-b_c.d"])
def test_good_directories(kind: DatastoreType, path: str) -> None:
    assert check_source(kind, path) == path


@pytest.mark.parametrize("kind", DIRS)
@pytest.mark.parametrize(
    "path",
    [
        "",
        "/",
        "relative/dir",
        "./data",
        "/data/",
        "//data",
        "/data//x",
        "/data/../etc",
        "/data/./x",
        "/da\x00ta",
        "/da\nta",
        "nas:/exports/vrm",
    ],
)
def test_bad_directories(kind: DatastoreType, path: str) -> None:
    with pytest.raises(ValueError, match="absolute"):
        check_source(kind, path)


@pytest.mark.parametrize(
    "source",
    [
        "nas1:/exports/vrm",
        "nas1.example.com:/exports/vrm",
        "10.0.0.5:/srv/nfs",
        "[fd00::5]:/srv/nfs",
        "nas-1:/",
    ],
)
def test_good_nfs(source: str) -> None:
    assert check_source(DatastoreType.NFS, source) == source


@pytest.mark.parametrize(
    "source",
    [
        "",
        "nas1",
        "nas1:",
        "nas1:exports",
        ":/exports",
        "/exports/vrm",
        "nas_1:/exports",
        "-nas:/exports",
        "nas..example:/exports",
        "999.1.1.1:/exports",
        "10.0.0:/exports",
        "fd00::5:/exports",
        "[fd00::5]/exports",
        "[10.0.0.5]:/exports",
        "[nas1]:/exports",
        "nas1:/exports/../etc",
        "nas1:/exports/",
        "nas1:/ex\x00ports",
        "user@nas1:/exports",
        "nas1:/a:/b/../c",
        "a" * 254 + ":/exports",
    ],
)
def test_bad_nfs(source: str) -> None:
    with pytest.raises(ValueError, match="server:/export"):
        check_source(DatastoreType.NFS, source)
