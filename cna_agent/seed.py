"""cloud-init NoCloud seeds: an ISO 9660 image labelled ``cidata`` made in Python.

cloud-init's NoCloud data source finds a filesystem labelled ``cidata`` holding the files
``meta-data``, ``user-data`` and (optionally) ``network-config``. The image has Rock
Ridge and Joliet names, so Linux (and Windows' cloudbase-init) see those exact names.
Seeds live under ``<state_dir>/seeds``, one per domain, rewritten whenever the domain is
defined again (so a changed address reaches the guest at its next boot).
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from uuid import UUID

import pycdlib

from cna_agent.protocol import SeedSpec

LABEL = "cidata"
# (Rock Ridge / Joliet name, ISO 9660 level-3 name) of each file.
_FILES = (
    ("meta-data", "METADATA.;1"),
    ("user-data", "USERDATA.;1"),
    ("network-config", "NETWORKCONFIG.;1"),
)


def seed_iso(seed: SeedSpec) -> bytes:
    """The ISO image of ``seed`` (``network-config`` left out when empty)."""
    contents = {
        "meta-data": seed.meta_data,
        "user-data": seed.user_data,
        "network-config": seed.network_config,
    }
    iso = pycdlib.PyCdlib()
    iso.new(interchange_level=3, joliet=3, rock_ridge="1.09", vol_ident=LABEL)
    for name, iso_name in _FILES:
        if name == "network-config" and not contents[name]:
            continue
        data = contents[name].encode()
        iso.add_fp(
            io.BytesIO(data), len(data), f"/{iso_name}", rr_name=name, joliet_path=f"/{name}"
        )
    out = io.BytesIO()
    iso.write_fp(out)
    iso.close()
    return out.getvalue()


def read_seed(image: bytes) -> dict[str, str]:
    """The files of a seed image by name (what a guest's cloud-init reads)."""
    iso = pycdlib.PyCdlib()
    iso.open_fp(io.BytesIO(image))
    try:
        found: dict[str, str] = {}
        for name, _ in _FILES:
            out = io.BytesIO()
            try:
                iso.get_file_from_iso_fp(out, rr_path=f"/{name}")
            except pycdlib.pycdlibexception.PyCdlibInvalidInput:
                continue
            found[name] = out.getvalue().decode()
        return found
    finally:
        iso.close()


class Seeds:
    """The seed images of this node's domains."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path(self, uuid: UUID) -> Path:
        """Where the seed of domain ``uuid`` lives."""
        return self.directory / f"{uuid}.iso"

    def write(self, uuid: UUID, seed: SeedSpec) -> Path:
        """Write (or rewrite) the domain's seed atomically; QEMU can read it."""
        self.directory.mkdir(mode=0o755, parents=True, exist_ok=True)
        target = self.path(uuid)
        partial = target.with_suffix(".iso.partial")
        partial.write_bytes(seed_iso(seed))
        partial.chmod(0o644)
        os.replace(partial, target)
        return target

    def remove(self, uuid: UUID) -> None:
        """Forget the domain's seed; none is fine."""
        self.path(uuid).unlink(missing_ok=True)
