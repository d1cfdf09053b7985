"""Login throttling: per account name and per client address, kept in the database so that every worker and
every restart sees the same counts.

- ``lockout_failures`` failed logins of one name within ``lockout_window_seconds`` lock that name for
  ``lockout_seconds`` — whether or not the account exists, so that the answer never tells which names do;
- ``address_failures`` failed logins from one address within the same window (whatever names were tried)
  refuse that address for ``lockout_seconds`` (password spraying).
While locked, even the right password is refused. A successful login forgets the name's failures.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from wall.config import SecuritySettings
from wall.store.accounts import NAME_LENGTH, Lockout, LoginFailure, utcnow


@dataclass(frozen=True)
class Refusal:
    kind: str  # account | address
    key: str
    until: datetime

    @property
    def retry_after(self) -> int:
        return max(1, int((self.until - utcnow()).total_seconds() + 0.999))


def normalise(username: str) -> str:
    return username.strip().lower()[:NAME_LENGTH]


def refused(session: Session, username: str, address: str, now: datetime | None = None) -> Refusal | None:
    """The lockout in force for this name or this address, if any (the one lasting longest)."""
    now = now or utcnow()
    row = session.scalar(
        select(Lockout).where(
            ((Lockout.kind == "account") & (Lockout.key == normalise(username)))
            | ((Lockout.kind == "address") & (Lockout.key == address[:NAME_LENGTH])),
            Lockout.until > now,
        ).order_by(Lockout.until.desc()).limit(1)
    )
    return None if row is None else Refusal(row.kind, row.key, row.until)


def record_failure(session: Session, username: str, address: str, settings: SecuritySettings,
                   now: datetime | None = None) -> list[Refusal]:
    """Count one failure; returns the lockouts it triggered (the caller audits them)."""
    now = now or utcnow()
    name, address = normalise(username), address[:NAME_LENGTH]
    session.add(LoginFailure(at=now, username=name, address=address))
    session.flush()
    window = now - timedelta(seconds=settings.lockout_window_seconds)
    until = now + timedelta(seconds=settings.lockout_seconds)
    new: list[Refusal] = []
    for kind, key, column, limit in (("account", name, LoginFailure.username, settings.lockout_failures),
                                     ("address", address, LoginFailure.address, settings.address_failures)):
        # failures count from the window's start, or from the last lock of this key if later: a lock starts a
        # new count, so the failures that caused it do not lock again at the next try after it ends
        last_lock = session.scalar(select(func.max(Lockout.created_at)).where(Lockout.kind == kind,
                                                                              Lockout.key == key))
        since = max(window, last_lock) if last_lock else window
        failures = session.scalar(select(func.count()).select_from(LoginFailure).where(
            column == key, LoginFailure.at > since)) or 0
        if failures >= limit:
            new.append(Refusal(kind, key, until))
            session.add(Lockout(kind=kind, key=key, created_at=now, until=until))
    return new


def forget_failures(session: Session, username: str) -> None:
    """After a successful login (or an admin's unlock) the name's earlier failures no longer count."""
    session.execute(delete(LoginFailure).where(LoginFailure.username == normalise(username))
                    .execution_options(synchronize_session=False))


def unlock_account(session: Session, username: str) -> None:
    name = normalise(username)
    session.execute(delete(Lockout).where(Lockout.kind == "account", Lockout.key == name)
                    .execution_options(synchronize_session=False))
    forget_failures(session, name)


def account_locked_until(session: Session, username: str) -> datetime | None:
    return session.scalar(select(func.max(Lockout.until)).where(
        Lockout.kind == "account", Lockout.key == normalise(username), Lockout.until > utcnow()))


def prune(session: Session, settings: SecuritySettings) -> None:
    """Forget failures older than the window, and lockouts that ended longer than a window ago (until then a
    lockout still marks where its key's new count starts)."""
    window_start = utcnow() - timedelta(seconds=settings.lockout_window_seconds)
    session.execute(delete(LoginFailure).where(LoginFailure.at <= window_start)
                    .execution_options(synchronize_session=False))
    session.execute(delete(Lockout).where(Lockout.until <= window_start).execution_options(synchronize_session=False))
