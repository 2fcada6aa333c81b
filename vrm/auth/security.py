"""Password and token hashing (standard library only)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

# scrypt cost: ~50 ms per hash on one core, 16 MiB of memory.
_N, _R, _P = 2**14, 8, 1
_PREFIX = "scrypt"


def hash_password(password: str) -> str:
    """A salted scrypt hash of ``password`` in ``scrypt$N$r$p$salt$hash`` form."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    parts = [_PREFIX, str(_N), str(_R), str(_P), _b64(salt), _b64(digest)]
    return "$".join(parts)


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches a hash made by ``hash_password``."""
    try:
        prefix, n, r, p, salt, digest = stored.split("$")
        if prefix != _PREFIX:
            return False
        expected = base64.urlsafe_b64decode(digest)
        actual = hashlib.scrypt(
            password.encode(),
            salt=base64.urlsafe_b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(expected),
        )
    except ValueError:
        return False
    return hmac.compare_digest(actual, expected)


def new_token(prefix: str) -> str:
    """A fresh high-entropy bearer token, e.g. ``vrm_...`` (prefix tells what it is)."""
    return f"{prefix}_{secrets.token_urlsafe(32)}"


def hash_token(token: str) -> str:
    """The stored form of a token: tokens are random, so a plain SHA-256 suffices."""
    return hashlib.sha256(token.encode()).hexdigest()


def generate_password() -> str:
    """A random password for a first admin or a new service account."""
    return secrets.token_urlsafe(12)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode()
