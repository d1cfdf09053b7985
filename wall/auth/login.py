"""Logging in: throttling, password check, session start — and an audit row for every outcome.

The answers never tell which user names exist: an unknown name and a wrong password are the same 401, and a
name locked after failures is a 429 whether or not it exists. Only the right password of a locked or disabled
account learns that the account is locked (403).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from wall.auth import audit, passwords, sessions, throttle
from wall.config import SecuritySettings
from wall.store.accounts import User
from wall.store.db import Database

log = logging.getLogger(__name__)
BAD_CREDENTIALS = "invalid user name or password"
TOO_MANY = "too many failed logins: try again later"
ACCOUNT_LOCKED = "this account is locked or disabled: ask an admin"


@dataclass(frozen=True)
class LoginResult:
    status: int  # 200, 401, 403, 429
    detail: str
    token: str | None = None
    user: User | None = None
    expires_at: datetime | None = None
    retry_after: int | None = None


def login(db: Database, settings: SecuritySettings, username: str, password: str, address: str,
          user_agent: str | None, previous_token: str | None = None) -> LoginResult:
    name = throttle.normalise(username)
    shown = name or None
    with db.session() as s:
        refusal = throttle.refused(s, name, address)
        if refusal is not None:
            audit.record(s, user=shown, action="login", target=None, success=False, address=address,
                         detail={"reason": f"{refusal.kind} locked", "until": refusal.until.isoformat()})
            log.warning("login %s from %s refused: %s locked", _shown(name), address, refusal.kind)
            return LoginResult(429, TOO_MANY, retry_after=refusal.retry_after)
        user = s.scalar(select(User).where(User.name == name))
        stored = user.password_hash if user is not None else None
    # argon2 outside any transaction: it takes ~0.1 s and holds no lock
    if stored is None:
        passwords.burn_time(password)
        ok = False
    else:
        ok = passwords.verify_password(stored, password)
    with db.session() as s:
        if not ok:
            new_locks = throttle.record_failure(s, name, address, settings)
            audit.record(s, user=shown, action="login", target=None, success=False, address=address,
                         detail={"reason": "bad credentials"})
            log.warning("login %s from %s failed", _shown(name), address)
            for lock in new_locks:
                target = f"user:{lock.key}" if lock.kind == "account" else f"address:{lock.key}"
                audit.record(s, user=shown, action="lockout", target=target, success=True, address=address,
                             detail={"until": lock.until.isoformat(), "kind": lock.kind})
                log.warning("lockout of %s until %s", _shown(target), lock.until.isoformat(timespec="seconds"))
            return LoginResult(401, BAD_CREDENTIALS)
        user = s.scalar(select(User).where(User.name == name))
        if user is None or user.locked or user.disabled:
            reason = "account disabled" if user is not None and user.disabled else "account locked"
            audit.record(s, user=shown, action="login", target=None, success=False, address=address,
                         detail={"reason": reason})
            log.warning("login %s from %s refused: %s", _shown(name), address, reason)
            return LoginResult(403, ACCOUNT_LOCKED)
        throttle.forget_failures(s, name)
        if passwords.needs_rehash(user.password_hash):
            user.password_hash = passwords.hash_password(password)
        if previous_token and len(previous_token) <= sessions.MAX_TOKEN_LENGTH:
            sessions.end_token(s, previous_token)  # a new login replaces the browser's old session
        sessions.prune(s, settings)
        throttle.prune(s, settings)
        token, row = sessions.start(s, user, settings, address, user_agent)
        audit.record(s, user=user.name, action="login", target=None, success=True, address=address,
                     detail={"session": row.id})
        log.info("login %s from %s: ok", user.name, address)
        return LoginResult(200, "ok", token=token, user=user, expires_at=row.expires_at)


def _shown(name: str) -> str:
    """A typed user name fit for a log line: printable, short (it may be anything an attacker sent)."""
    return "".join(c if c.isprintable() else "?" for c in name[:64]) or "(empty)"
