"""Login throttling: failures counted per account name and per client address, in the database so that every
worker and every restart sees the same counts — built so that an attacker who knows a user name cannot lock
its owner out.

- An account's **usual addresses** are those it logged in from successfully (``wall.store.logins``, kept
  ``usual_address_days``). ``lockout_failures`` failures of the name *from its usual addresses* within
  ``lockout_window_seconds`` lock the account for ``lockout_seconds`` (the owner's own mistakes, or someone at
  the owner's desk); so do ``lockout_total_failures`` failures from *any* addresses (a spread attack).
- Failures from any other address only slow **that address** down for that name: after
  ``delay_after_failures`` of them it must wait ``delay_seconds`` before its next try, twice as long after each
  further failure, at most ``delay_max_seconds`` (429 with Retry-After; even the right password waits).
- ``address_failures`` failures from one address within the window (whatever names were tried) refuse that
  address for ``lockout_seconds`` (password spraying).
- Names are counted whether or not the account exists, so that no answer tells which names do.
- A successful login forgets the name's failures from its usual addresses (the owner's typos), never those
  from elsewhere, and makes the address a usual one. An admin's unlock forgets them all.

Every function takes ``now`` from the caller (the service's clock, ``wall.services.Services.clock``), so that
tests can move time instead of waiting for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import BaseModel
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from wall.security_settings import SecuritySettings
from wall.store.accounts import NAME_LENGTH, Lockout, LoginFailure, utcnow
from wall.store.logins import ADDRESS_LENGTH, LoginAddress


@dataclass(frozen=True)
class Refusal:
    kind: str  # account | address | delay
    key: str
    until: datetime
    at: datetime  # when it was decided (for Retry-After)
    reason: str = ""

    @property
    def retry_after(self) -> int:
        return max(1, int((self.until - self.at).total_seconds() + 0.999))


class AddressFailures(BaseModel):
    """Recent failed logins of one account from one address."""

    address: str
    failures: int
    last_at: datetime
    usual: bool  # one of the account's usual addresses: its failures count towards the lock
    waits_until: datetime | None  # the address must wait before its next try (progressive delay)


class LoginReport(BaseModel):
    """Why an account is locked or slowed down, for the admin console (``GET /api/users/{name}/logins``)."""

    name: str
    locked_out_until: datetime | None
    reason: str | None
    usual_addresses: list[str]
    failures: list[AddressFailures]


def normalise(username: str) -> str:
    return username.strip().lower()[:NAME_LENGTH]


def _address(address: str) -> str:
    return address[:ADDRESS_LENGTH]


def usual_addresses(session: Session, username: str, settings: SecuritySettings, now: datetime) -> set[str]:
    since = now - timedelta(days=settings.usual_address_days)
    return set(session.scalars(select(LoginAddress.address).where(LoginAddress.username == normalise(username),
                                                                 LoginAddress.last_at > since)))


def _count_from(session: Session, kind: str, key: str, settings: SecuritySettings, now: datetime) -> datetime:
    """Failures count from the window's start, or from the last lock of this key if later: a lock starts a new
    count, so the failures that caused it do not lock again at the next try after it ends."""
    window = now - timedelta(seconds=settings.lockout_window_seconds)
    last_lock = session.scalar(select(func.max(Lockout.created_at)).where(Lockout.kind == kind, Lockout.key == key))
    return max(window, last_lock) if last_lock else window


def _delay_until(session: Session, name: str, address: str, settings: SecuritySettings,
                 now: datetime) -> datetime | None:
    """When ``address`` may try ``name`` again, if it has to wait (failures from an unusual address)."""
    since = now - timedelta(seconds=settings.lockout_window_seconds)
    count, last = session.execute(select(func.count(), func.max(LoginFailure.at)).where(
        LoginFailure.username == name, LoginFailure.address == address, LoginFailure.at > since)).one()
    if not count or count < settings.delay_after_failures:
        return None
    wait = min(settings.delay_max_seconds, settings.delay_seconds * 2 ** (count - settings.delay_after_failures))
    until: datetime = last + timedelta(seconds=wait)
    return until


def refused(session: Session, username: str, address: str, settings: SecuritySettings,
            now: datetime) -> Refusal | None:
    """The lockout or delay in force for this name from this address, if any (the one lasting longest)."""
    name, address = normalise(username), _address(address)
    row = session.scalar(
        select(Lockout).where(
            ((Lockout.kind == "account") & (Lockout.key == name))
            | ((Lockout.kind == "address") & (Lockout.key == address)),
            Lockout.until > now,
        ).order_by(Lockout.until.desc()).limit(1)
    )
    if row is not None:
        return Refusal(row.kind, row.key, row.until, now, row.reason or "")
    if address in usual_addresses(session, name, settings, now):
        return None
    until = _delay_until(session, name, address, settings, now)
    if until is not None and until > now:
        return Refusal("delay", f"{name}@{address}", until, now, "failed logins from an unusual address")
    return None


def record_failure(session: Session, username: str, address: str, settings: SecuritySettings,
                   now: datetime) -> list[Refusal]:
    """Count one failure; returns the lockouts it started (the caller audits them)."""
    name, address = normalise(username), _address(address)
    session.add(LoginFailure(at=now, username=name, address=address))
    session.flush()
    until = now + timedelta(seconds=settings.lockout_seconds)
    minutes = f"{settings.lockout_window_seconds / 60:g} min"
    new: list[Refusal] = []

    since = _count_from(session, "account", name, settings, now)
    usual = usual_addresses(session, name, settings, now)
    recent = select(func.count()).select_from(LoginFailure).where(LoginFailure.username == name,
                                                                  LoginFailure.at > since)
    from_usual = (session.scalar(recent.where(LoginFailure.address.in_(usual))) or 0) if usual else 0
    total = session.scalar(recent) or 0
    reason = None
    if from_usual >= settings.lockout_failures:
        reason = f"{from_usual} failed logins from its usual addresses within {minutes}"
    elif total >= settings.lockout_total_failures:
        reason = f"{total} failed logins from any addresses within {minutes}"
    if reason is not None:
        new.append(Refusal("account", name, until, now, reason))

    since = _count_from(session, "address", address, settings, now)
    by_address = session.scalar(select(func.count()).select_from(LoginFailure).where(
        LoginFailure.address == address, LoginFailure.at > since)) or 0
    if by_address >= settings.address_failures:
        new.append(Refusal("address", address, until, now,
                           f"{by_address} failed logins from this address (any accounts) within {minutes}"))
    for lock in new:
        session.add(Lockout(kind=lock.kind, key=lock.key, created_at=now, until=lock.until, reason=lock.reason))
    return new


def record_success(session: Session, username: str, address: str, settings: SecuritySettings,
                   now: datetime) -> None:
    """A successful login: the address becomes (or stays) a usual one, and the name's failures from its usual
    addresses are forgotten — not those from elsewhere, which keep their delays and their share of the total."""
    name, address = normalise(username), _address(address)
    row = session.scalar(select(LoginAddress).where(LoginAddress.username == name, LoginAddress.address == address))
    if row is None:
        session.add(LoginAddress(username=name, address=address, first_at=now, last_at=now))
    else:
        row.last_at = now
    session.flush()
    usual = usual_addresses(session, name, settings, now)
    session.execute(delete(LoginFailure).where(LoginFailure.username == name, LoginFailure.address.in_(usual))
                    .execution_options(synchronize_session=False))


def forget_failures(session: Session, username: str) -> None:
    """After an admin's unlock the name's earlier failures, from anywhere, no longer count."""
    session.execute(delete(LoginFailure).where(LoginFailure.username == normalise(username))
                    .execution_options(synchronize_session=False))


def unlock_account(session: Session, username: str) -> None:
    name = normalise(username)
    session.execute(delete(Lockout).where(Lockout.kind == "account", Lockout.key == name)
                    .execution_options(synchronize_session=False))
    forget_failures(session, name)


def account_lockout(session: Session, username: str, now: datetime) -> Lockout | None:
    """The account's lockout in force (the one lasting longest), if any."""
    return session.scalar(select(Lockout).where(Lockout.kind == "account", Lockout.key == normalise(username),
                                                Lockout.until > now).order_by(Lockout.until.desc()).limit(1))


def account_locked_until(session: Session, username: str, now: datetime | None = None) -> datetime | None:
    row = account_lockout(session, username, now or utcnow())
    return None if row is None else row.until


def report(session: Session, username: str, settings: SecuritySettings, now: datetime) -> LoginReport:
    """What the admin console shows of an account's logins: the lockout and why, its usual addresses, and the
    recent failures by address (which of them count towards the lock, which must wait)."""
    name = normalise(username)
    lock = account_lockout(session, name, now)
    usual = usual_addresses(session, name, settings, now)
    since = now - timedelta(seconds=settings.lockout_window_seconds)
    rows = session.execute(select(LoginFailure.address, func.count(), func.max(LoginFailure.at))
                           .where(LoginFailure.username == name, LoginFailure.at > since)
                           .group_by(LoginFailure.address).order_by(func.max(LoginFailure.at).desc())).all()
    failures = []
    for address, count, last in rows:
        waits = None if address in usual else _delay_until(session, name, address, settings, now)
        failures.append(AddressFailures(address=address, failures=count, last_at=last, usual=address in usual,
                                        waits_until=waits if waits is not None and waits > now else None))
    return LoginReport(name=name, locked_out_until=lock.until if lock else None,
                       reason=lock.reason if lock else None, usual_addresses=sorted(usual), failures=failures)


def prune(session: Session, settings: SecuritySettings, now: datetime) -> None:
    """Forget failures older than the window, lockouts that ended longer than a window ago (until then a lockout
    still marks where its key's new count starts) and addresses not used for ``usual_address_days``."""
    window_start = now - timedelta(seconds=settings.lockout_window_seconds)
    session.execute(delete(LoginFailure).where(LoginFailure.at <= window_start)
                    .execution_options(synchronize_session=False))
    session.execute(delete(Lockout).where(Lockout.until <= window_start).execution_options(synchronize_session=False))
    stale = now - timedelta(days=settings.usual_address_days)
    session.execute(delete(LoginAddress).where(LoginAddress.last_at <= stale)
                    .execution_options(synchronize_session=False))
