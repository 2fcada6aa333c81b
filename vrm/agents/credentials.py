"""The two credentials of an enrolled host.

- The *host credential* is random; the agent presents it to VRM and VRM keeps only
  its hash (``hosts.credential_hash``).
- The *VRM credential* is what VRM presents to the agent. VRM does not store it: it
  is derived from ``VRM_SECRET_KEY`` and the host id, so every VRM replica sharing
  the secret can compute it, and the agent keeps only its hash. Changing the secret
  therefore means re-enrolling the agents.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid

from vrm.auth.security import hash_token, new_token


def new_host_credential() -> tuple[str, str]:
    """A fresh host credential and the hash VRM stores."""
    token = new_token("cnah")
    return token, hash_token(token)


def host_credential_matches(token: str, stored_hash: str | None) -> bool:
    """Whether ``token`` is the host credential whose hash is ``stored_hash``."""
    return stored_hash is not None and hmac.compare_digest(hash_token(token), stored_hash)


def vrm_credential(secret_key: str, host_id: uuid.UUID) -> str:
    """The credential VRM presents to the agent of ``host_id``."""
    digest = hmac.new(secret_key.encode(), f"vrm->agent:{host_id}".encode(), hashlib.sha256)
    return f"cnav_{digest.hexdigest()}"
