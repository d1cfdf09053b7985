"""Logging in: throttling, password check, session start — and an audit row for every outcome.

The answers never tell which user names exist: an unknown name and a wrong password are the same 401, and a
name locked (or an address slowed down) after failures is a 429 whether or not it exists. Only the right
password of a locked or disabled account learns that the account is locked (403). ``check_current_password``
puts the password-change route under the same throttle, so a session left open is no way to guess the
password without limit.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from wall.auth import audit, passwords, sessions, throttle
from wall.errors import Forbidden, NotAuthenticated, TooMany
from wall.security_settings import SecuritySettings
from wall.store.accounts import User, utcnow
from wall.store.db import Database

log = logging.getLogger(__name__)
BAD_CREDENTIALS = "invalid user name or password"
TOO_MANY = "too many failed logins: try again later"
WRONG_CURRENT = "the current password is wrong"
Clock = Callable[[], datetime]
ACCOUNT_LOCKED = "this account is locked or disabled: ask an admin"


@dataclass(frozen=True)
class LoginResult:
    token: str
    user: User
    expires_at: datetime


def login(db: Database, settings: SecuritySettings, username: str, password: str, address: str,
          user_agent: str | None, previous_token: str | None = None, clock: Clock = utcnow) -> LoginResult:
    """A new session for the right password; else :class:`TooMany` (throttled), :class:`NotAuthenticated`
    (wrong name or password) or :class:`Forbidden` (locked or disabled), each raised once its audit row and
    any lockout are committed."""
    name = throttle.normalise(username)
    shown = name or None
    with db.session() as s:
        refusal = throttle.refused(s, name, address, settings, clock())
        if refusal is not None:
            _refused(s, "login", name, address, refusal)
        user = s.scalar(select(User).where(User.name == name))
        stored = user.password_hash if user is not None else None
    if refusal is not None:
        raise TooMany(TOO_MANY, retry_after=refusal.retry_after)
    # argon2 outside any transaction: it takes ~0.1 s and holds no lock
    if stored is None:
        passwords.burn_time(password)
        ok = False
    else:
        ok = passwords.verify_password(stored, password)
    if not ok:
        with db.session() as s:
            _failed(s, "login", name, address, settings, clock())
        raise NotAuthenticated(BAD_CREDENTIALS)
    with db.session() as s:
        user = s.scalar(select(User).where(User.name == name))
        if user is None or user.locked or user.disabled:
            reason = "account disabled" if user is not None and user.disabled else "account locked"
            audit.record(s, user=shown, action="login", target=None, success=False, address=address,
                         detail={"reason": reason})
            log.warning("login %s from %s refused: %s", _shown(name), address, reason)
        else:
            return _start(s, user, password, address, user_agent, previous_token, settings, clock())
    raise Forbidden(ACCOUNT_LOCKED)


def check_current_password(db: Database, settings: SecuritySettings, username: str, password: str, address: str,
                           clock: Clock = utcnow) -> None:
    """The password-change route's proof of the current password, throttled like a login (a wrong one counts
    as a failed login of the account from this address) and audited as ``user.password``. Raises
    :class:`TooMany` or :class:`Forbidden`; returns when the password is right."""
    name = throttle.normalise(username)
    with db.session() as s:
        refusal = throttle.refused(s, name, address, settings, clock())
        if refusal is not None:
            _refused(s, "user.password", name, address, refusal)
        user = s.scalar(select(User).where(User.name == name))
        stored = user.password_hash if user is not None else None
    if refusal is not None:
        raise TooMany(TOO_MANY, retry_after=refusal.retry_after)
    if stored is not None and passwords.verify_password(stored, password):
        return
    with db.session() as s:
        _failed(s, "user.password", name, address, settings, clock(), reason="wrong current password")
    raise Forbidden(WRONG_CURRENT)


def _refused(s: Session, action: str, name: str, address: str, refusal: throttle.Refusal) -> None:
    audit.record(s, user=name or None, action=action, target=f"user:{name}" if action != "login" else None,
                 success=False, address=address,
                 detail={"reason": "delayed" if refusal.kind == "delay" else f"{refusal.kind} locked",
                         "until": refusal.until.isoformat()})
    log.warning("%s %s from %s refused: %s until %s", action, _shown(name), address,
                "delayed" if refusal.kind == "delay" else f"{refusal.kind} locked",
                refusal.until.isoformat(timespec="seconds"))


def _failed(s: Session, action: str, name: str, address: str, settings: SecuritySettings, now: datetime,
            reason: str = "bad credentials") -> None:
    """A wrong name or password: counted towards the lockouts, audited with any lockout it causes."""
    shown = name or None
    new_locks = throttle.record_failure(s, name, address, settings, now)
    audit.record(s, user=shown, action=action, target=f"user:{name}" if action != "login" else None,
                 success=False, address=address, detail={"reason": reason})
    log.warning("%s %s from %s failed", action, _shown(name), address)
    for lock in new_locks:
        target = f"user:{lock.key}" if lock.kind == "account" else f"address:{lock.key}"
        audit.record(s, user=shown, action="lockout", target=target, success=True, address=address,
                     detail={"until": lock.until.isoformat(), "kind": lock.kind, "reason": lock.reason})
        log.warning("lockout of %s until %s: %s", _shown(target), lock.until.isoformat(timespec="seconds"),
                    lock.reason)


def _start(s: Session, user: User, password: str, address: str, user_agent: str | None,
           previous_token: str | None, settings: SecuritySettings, now: datetime) -> LoginResult:
    throttle.record_success(s, user.name, address, settings, now)
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash_password(password)
    if previous_token and len(previous_token) <= sessions.MAX_TOKEN_LENGTH:
        sessions.end_token(s, previous_token)  # a new login replaces the browser's old session
    sessions.prune(s, settings, now)
    throttle.prune(s, settings, now)
    token, row = sessions.start(s, user, settings, address, user_agent, now)
    audit.record(s, user=user.name, action="login", target=None, success=True, address=address,
                 detail={"session": row.id})
    log.info("login %s from %s: ok", user.name, address)
    return LoginResult(token=token, user=user, expires_at=row.expires_at)


def _shown(name: str) -> str:
    """A typed user name fit for a log line: printable, short (it may be anything an attacker sent)."""
    return "".join(c if c.isprintable() else "?" for c in name[:64]) or "(empty)"
