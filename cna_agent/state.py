"""What the agent keeps on disk under ``CNA_STATE_DIR``: its identity after enrollment."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

IDENTITY_FILE = "identity.json"


@dataclass(frozen=True, slots=True)
class Identity:
    """The host id and credentials VRM gave this agent at enrollment."""

    vrm_url: str
    host_id: uuid.UUID
    cluster_id: uuid.UUID
    host_credential: str
    # Only the hash of VRM's credential is kept: enough to check it, useless if stolen.
    vrm_credential_sha256: str

    def accepts(self, presented: str) -> bool:
        """Whether ``presented`` is VRM's credential."""
        digest = hashlib.sha256(presented.encode()).hexdigest()
        return hmac.compare_digest(digest, self.vrm_credential_sha256)


def hash_credential(credential: str) -> str:
    """The stored form of VRM's credential."""
    return hashlib.sha256(credential.encode()).hexdigest()


def load_identity(state_dir: Path) -> Identity | None:
    """The saved identity, or None before enrollment."""
    path = state_dir / IDENTITY_FILE
    if not path.exists():
        return None
    raw = json.loads(path.read_text())
    return Identity(
        vrm_url=raw["vrm_url"],
        host_id=uuid.UUID(raw["host_id"]),
        cluster_id=uuid.UUID(raw["cluster_id"]),
        host_credential=raw["host_credential"],
        vrm_credential_sha256=raw["vrm_credential_sha256"],
    )


def save_identity(state_dir: Path, identity: Identity) -> None:
    """Write the identity atomically, readable by root only."""
    state_dir.mkdir(parents=True, exist_ok=True)
    raw = {
        **asdict(identity),
        "host_id": str(identity.host_id),
        "cluster_id": str(identity.cluster_id),
    }
    tmp = state_dir / f".{IDENTITY_FILE}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(raw, handle, indent=2)
    os.replace(tmp, state_dir / IDENTITY_FILE)
