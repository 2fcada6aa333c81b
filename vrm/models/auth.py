"""Users, roles, bearer tokens, agent enrollment tokens and the audit trail."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from vrm.models.base import Base, IdMixin, TimestampMixin, utcnow
from vrm.models.enums import TokenKind, str_enum


class Role(IdMixin, TimestampMixin, Base):
    """A named set of permissions (built-in: admin, operator, viewer)."""

    __tablename__ = "roles"

    name: Mapped[str] = mapped_column(String(32), unique=True)
    description: Mapped[str] = mapped_column(String(255), default="")
    permissions: Mapped[list[Any]] = mapped_column(default=list)


class User(IdMixin, TimestampMixin, Base):
    """A person or service account that logs in."""

    __tablename__ = "users"

    name: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("roles.id", ondelete="RESTRICT"))
    enabled: Mapped[bool] = mapped_column(default=True)
    last_login_at: Mapped[datetime | None]
    # The WebUI language the user chose (None: the browser's).
    language: Mapped[str | None] = mapped_column(String(16))

    role: Mapped[Role] = relationship(lazy="raise")


class ApiToken(IdMixin, Base):
    """A bearer token, stored only as a hash."""

    __tablename__ = "api_tokens"
    __table_args__ = (Index("ix_api_tokens_user_id", "user_id"),)

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[TokenKind] = mapped_column(str_enum(TokenKind), default=TokenKind.LOGIN)
    name: Mapped[str] = mapped_column(String(64), default="")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class EnrollmentToken(IdMixin, Base):
    """A one-time token with which a new CNA agent joins a cluster."""

    __tablename__ = "enrollment_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    cluster_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clusters.id", ondelete="CASCADE"))
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    host_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("hosts.id", ondelete="SET NULL"))


class AuditRecord(IdMixin, Base):
    """Who changed what, when, from where; never updated."""

    __tablename__ = "audit_records"
    __table_args__ = (Index("ix_audit_records_created_at", "created_at"),)

    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    username: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    target_type: Mapped[str] = mapped_column(String(32))
    target_id: Mapped[uuid.UUID | None]
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
