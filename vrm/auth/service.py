"""Logging in, checking bearer tokens and creating the first admin."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.orm import Session

from vrm.auth import security
from vrm.auth.principal import Authenticated, Principal
from vrm.auth.repository import RoleRepository, TokenRepository, UserRepository
from vrm.auth.uses import TokenUses
from vrm.errors import Conflict, Unauthorized, ValidationFailed
from vrm.models import ApiToken, User
from vrm.models.base import utcnow
from vrm.models.enums import TokenKind

# A hash to compare against when the user does not exist, so timing tells nothing.
_DUMMY_HASH = security.hash_password("not-a-real-password")


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A token as shown to its owner, once."""

    token: str
    expires_in: int | None
    # The user's chosen WebUI language, if any.
    language: str | None = None


def login(session: Session, *, username: str, password: str, ttl_s: int) -> IssuedToken:
    """Check a user's password and issue a login token valid for ``ttl_s`` seconds."""
    user = UserRepository(session).by_name(username)
    stored = user.password_hash if user else _DUMMY_HASH
    if not security.verify_password(password, stored) or user is None or not user.enabled:
        raise Unauthorized("wrong user name or password", code="invalid_credentials")
    now = utcnow()
    user.last_login_at = now
    token = security.new_token("vrm")
    TokenRepository(session).add(
        ApiToken(
            user_id=user.id,
            kind=TokenKind.LOGIN,
            token_hash=security.hash_token(token),
            expires_at=now + timedelta(seconds=ttl_s),
        ),
        conflict="token collision, try again",
    )
    return IssuedToken(token=token, expires_in=ttl_s, language=user.language)


def set_language(session: Session, *, actor: Principal, language: str) -> None:
    """Remember the WebUI language ``actor`` chose."""
    user = UserRepository(session).get(actor.user_id)
    if user is not None:
        user.language = language


def logout(session: Session, *, token: str) -> None:
    """Revoke a login token (the WebUI's logout); the callers' cache forgets it."""
    TokenRepository(session).revoke(security.hash_token(token), utcnow())
    session.info["callers_changed"] = True


def authenticate(session: Session, *, token: str, uses: TokenUses) -> Authenticated:
    """Who a bearer token authenticates, or 401; its use is noted in ``uses``."""
    now = utcnow()
    found = TokenRepository(session).active(security.hash_token(token), now)
    if found is None:
        raise Unauthorized("the bearer token is unknown, expired or revoked", code="invalid_token")
    api_token, user = found
    uses.note(api_token.id, now)
    principal = Principal(
        user_id=user.id,
        name=user.name,
        role=user.role.name,
        permissions=frozenset(user.role.permissions),
    )
    return Authenticated(principal, api_token.id, api_token.expires_at)


def create_user(session: Session, *, name: str, password: str, role: str) -> User:
    """A new enabled user with ``role``; 409 when the name is taken."""
    role_row = RoleRepository(session).get_by(name=role)
    if role_row is None:
        raise ValidationFailed(f"no role named {role!r}", code="unknown_role")
    users = UserRepository(session)
    if users.get_by(name=name) is not None:
        raise Conflict(f"a user named {name!r} already exists", code="user_exists")
    user = User(name=name, password_hash=security.hash_password(password), role_id=role_row.id)
    return users.add(user, conflict=f"a user named {name!r} already exists")


def ensure_admin(session: Session, *, password: str | None) -> str | None:
    """Create ``admin`` when no user exists; return the generated password, if one was made."""
    if UserRepository(session).count() > 0:
        return None
    generated = None if password else security.generate_password()
    create_user(session, name="admin", password=password or generated or "", role="admin")
    return generated
