"""Tables of accounts and access: users, password history, camera groups, grants, sessions, login throttling
and the append-only audit log. The logic that uses them lives in ``wall.auth``; the schema is created by the
migration ``0001_accounts`` (kept in step with these classes by hand, and by a test).

Times are UTC and timezone-aware in Python; the database stores them as UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Mapped, mapped_column

from wall.store.db import Base

NAME_LENGTH = 64


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend (SQLite keeps no zone: values are stored as naive UTC)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: citywall stores UTC times only")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class User(Base):
    __tablename__ = "users"
    # wall.auth.principal.Role's values (the store sits below auth; tests/test_errors_and_roles.py keeps them equal)
    __table_args__ = (CheckConstraint("role IN ('admin', 'operator', 'viewer')", name="ck_users_role"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_LENGTH), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(255))
    locked: Mapped[bool] = mapped_column(Boolean, default=False)  # by an admin, until unlocked
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)  # "deleted": kept for the audit trail
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    password_changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PasswordHistory(Base):
    """Every password a user has had (argon2 hashes), newest last: the policy refuses the last N again."""

    __tablename__ = "password_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CameraGroup(Base):
    """A named set of camera ids. ``source`` is ``config`` for groups seeded from cameras.yaml's ``group``
    field (their members follow the file at every start) or ``admin`` for groups made through the API."""

    __tablename__ = "camera_groups"
    __table_args__ = (CheckConstraint("source IN ('config', 'admin')", name="ck_camera_groups_source"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_LENGTH), unique=True)
    source: Mapped[str] = mapped_column(String(16), default="admin")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CameraGroupMember(Base):
    __tablename__ = "camera_group_members"

    group_id: Mapped[int] = mapped_column(ForeignKey("camera_groups.id", ondelete="CASCADE"), primary_key=True)
    camera_id: Mapped[str] = mapped_column(String(NAME_LENGTH), primary_key=True)


class Grant(Base):
    """A camera or a group granted to a user or a role, with one right (view, playback or ptz). Subjects and
    targets are kept by name so that a grant reads the way the CLI writes it (``alice`` / ``role:operator`` →
    ``cam-1`` / ``group:jiefang-rd``); each right is its own row, so revoking playback leaves the live view."""

    __tablename__ = "grants"
    __table_args__ = (
        UniqueConstraint("subject_kind", "subject", "target_kind", "target", "grant_right", name="uq_grants"),
        CheckConstraint("subject_kind IN ('user', 'role')", name="ck_grants_subject_kind"),
        CheckConstraint("target_kind IN ('camera', 'group')", name="ck_grants_target_kind"),
        CheckConstraint("grant_right IN ('view', 'playback', 'ptz')", name="ck_grants_right"),
        {"sqlite_autoincrement": True},  # ids the API hands out are never reused for another grant
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject_kind: Mapped[str] = mapped_column(String(8))
    subject: Mapped[str] = mapped_column(String(NAME_LENGTH))
    target_kind: Mapped[str] = mapped_column(String(8))
    target: Mapped[str] = mapped_column(String(NAME_LENGTH))
    # "right" is an SQL keyword (RIGHT JOIN): the column has a name of its own
    right: Mapped[str] = mapped_column("grant_right", String(8), default="view", server_default="view")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(NAME_LENGTH + 16), nullable=True)


class LoginSession(Base):
    """A login. Only the SHA-256 of the token is stored: a copy of the database opens no session. Ids are never
    reused (AUTOINCREMENT on SQLite): an open WebSocket re-checks its session by id."""

    __tablename__ = "sessions"
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    address: Mapped[str | None] = mapped_column(String(64), nullable=True)
    user_agent: Mapped[str | None] = mapped_column(String(200), nullable=True)


class LoginFailure(Base):
    """One failed login, by the name typed (existing or not) and the client address: what throttling counts."""

    __tablename__ = "login_failures"
    __table_args__ = (Index("ix_login_failures_username_at", "username", "at"),
                      Index("ix_login_failures_address_at", "address", "at"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    username: Mapped[str] = mapped_column(String(NAME_LENGTH))
    address: Mapped[str] = mapped_column(String(64))


class Lockout(Base):
    """An account name or a client address refused until ``until`` after too many failures."""

    __tablename__ = "lockouts"
    __table_args__ = (Index("ix_lockouts_kind_key", "kind", "key"),
                      CheckConstraint("kind IN ('account', 'address')", name="ck_lockouts_kind"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))
    key: Mapped[str] = mapped_column(String(NAME_LENGTH))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    until: Mapped[datetime] = mapped_column(UTCDateTime)
    reason: Mapped[str | None] = mapped_column(String(200), nullable=True)  # what the admin console shows


class AuditEntry(Base):
    """Append-only: the migration adds triggers that refuse UPDATE and DELETE (see ``wall.auth.audit``)."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_at", "at"), Index("ix_audit_log_username", "username"),
                      Index("ix_audit_log_action", "action"), {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    username: Mapped[str | None] = mapped_column(String(NAME_LENGTH + 16), nullable=True)  # "user" is reserved in SQL
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str | None] = mapped_column(String(200), nullable=True)
    success: Mapped[bool] = mapped_column(Boolean)
    address: Mapped[str | None] = mapped_column(String(64), nullable=True)
    detail: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON
