"""Login sessions: opaque random tokens, only their SHA-256 stored; idle timeout and absolute lifetime.

The token is the cookie's value and nothing else: it carries no data, so ending a session (logout, password
change, lock, an admin's decision) takes effect on the very next request.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from wall.security_settings import SecuritySettings
from wall.store.accounts import LoginSession, User, utcnow
from wall.store.db import deleted

COOKIE = "citywall_session"
TOKEN_BYTES = 32
PRUNE_IDLE_GRACE = timedelta(hours=6)  # larger than any clock step worth surviving
MAX_TOKEN_LENGTH = 100  # token_urlsafe(32) is 43 characters; anything much longer is not ours


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def start(session: Session, user: User, settings: SecuritySettings, address: str | None,
          user_agent: str | None, now: datetime | None = None) -> tuple[str, LoginSession]:
    """A new session for ``user``; returns the token (given to the client once, never stored) and the row."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    now = now or utcnow()
    row = LoginSession(token_hash=token_hash(token), user_id=user.id, created_at=now, last_seen_at=now,
                       expires_at=now + timedelta(seconds=settings.session_absolute_seconds), address=address,
                       user_agent=(user_agent or "")[:200] or None)
    session.add(row)
    session.flush()
    return token, row


def expired(row: LoginSession, settings: SecuritySettings, now: datetime, idle: bool = True,
            idle_for: timedelta | None = None) -> str | None:
    """Why the session can no longer be used, or None. ``idle_for``: how long it has been idle as this process
    measured it (``wall.auth.idle.IdleClock``: monotonic, so a stepped wall clock neither ends it early nor keeps
    it); without it, by the wall clock."""
    if now >= row.expires_at:
        return "absolute"
    idle_for = now - row.last_seen_at if idle_for is None else idle_for
    if idle and idle_for >= timedelta(seconds=settings.session_idle_seconds):
        return "idle"
    return None


def lookup(session: Session, token: str | None) -> tuple[LoginSession, User] | None:
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    found = session.execute(select(LoginSession, User).join(User, LoginSession.user_id == User.id)
                            .where(LoginSession.token_hash == token_hash(token))).first()
    return None if found is None else (found[0], found[1])


def by_id(session: Session, session_id: int) -> tuple[LoginSession, User] | None:
    found = session.execute(select(LoginSession, User).join(User, LoginSession.user_id == User.id)
                            .where(LoginSession.id == session_id)).first()
    return None if found is None else (found[0], found[1])


def touch_due(row: LoginSession, settings: SecuritySettings, now: datetime, idle_for: timedelta | None = None) -> bool:
    """Whether to write ``last_seen_at`` now: not on every use, but often enough that the idle timeout is off by
    at most a tenth of itself (and at most 15 s). Only the user's own actions are use (``wall.access``)."""
    idle_for = now - row.last_seen_at if idle_for is None else idle_for
    return idle_for >= timedelta(seconds=min(15.0, settings.session_idle_seconds / 10))


def end(session: Session, session_id: int) -> bool:
    return bool(deleted(session, delete(LoginSession).where(LoginSession.id == session_id)))


def end_token(session: Session, token: str) -> bool:
    return bool(deleted(session, delete(LoginSession).where(LoginSession.token_hash == token_hash(token))))


def end_all(session: Session, user_id: int) -> int:
    return deleted(session, delete(LoginSession).where(LoginSession.user_id == user_id))


def active(session: Session, user_id: int, settings: SecuritySettings) -> list[LoginSession]:
    now = utcnow()
    rows = session.scalars(select(LoginSession).where(LoginSession.user_id == user_id).order_by(LoginSession.id))
    return [r for r in rows if expired(r, settings, now) is None]


def prune(session: Session, settings: SecuritySettings, now: datetime | None = None) -> int:
    """Forget sessions that can no longer be used (expired by either clock). Idle ones only after a grace: the
    lookup refuses them already (on the monotonic clock), and a wall clock stepped forward must not make this
    housekeeping delete the sessions of people at work."""
    now = now or utcnow()
    idle_before = now - timedelta(seconds=settings.session_idle_seconds) - PRUNE_IDLE_GRACE
    return deleted(session, delete(LoginSession).where((LoginSession.expires_at <= now)
                                                       | (LoginSession.last_seen_at <= idle_before)))
