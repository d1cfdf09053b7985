"""Service accounts of the platform API: a name, scopes, and a bearer token of which only the SHA-256 is kept
(``wall.auth.sessions.token_hash``, the sessions' hashing: the token is 32 random bytes, so a fast hash is as
safe as a slow one and costs nothing per call). The token is shown once, when made or rotated
(``citywall platform token …``); rotating replaces it at once, so the old one stops working on the next call.
"""

from __future__ import annotations

import secrets
from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from wall.auth.sessions import MAX_TOKEN_LENGTH, token_hash
from wall.errors import Conflict, Invalid, NotFound
from wall.platform.models import Scope
from wall.store.accounts import utcnow
from wall.store.platform import ServiceAccount

TOKEN_PREFIX = "cwp_"  # tells a platform token from a session's at a glance (in a leaked config, a log search)
NAME_PATTERN = "abcdefghijklmnopqrstuvwxyz0123456789-_"


class AccountOut(BaseModel):
    name: str
    scopes: list[Scope]
    disabled: bool
    created_at: datetime
    rotated_at: datetime
    last_used_at: datetime | None


def _new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def parse_scopes(names: list[str]) -> list[Scope]:
    try:
        return sorted({Scope(n) for n in names}) or list(Scope)
    except ValueError:
        raise Invalid(f"scopes are: {', '.join(Scope)}") from None


def _get(s: Session, name: str) -> ServiceAccount:
    account = s.scalar(select(ServiceAccount).where(ServiceAccount.name == name))
    if account is None:
        raise NotFound(f"no service account '{name}'")
    return account


def create(s: Session, name: str, scopes: list[Scope]) -> str:
    """A new account; returns its token (shown once)."""
    if not name or len(name) > 64 or any(c not in NAME_PATTERN for c in name):
        raise Invalid("a service account's name is 1-64 of a-z, 0-9, - and _")
    if s.scalar(select(ServiceAccount.id).where(ServiceAccount.name == name)) is not None:
        raise Conflict(f"service account '{name}' exists; rotate its token instead")
    token, now = _new_token(), utcnow()
    s.add(ServiceAccount(name=name, token_hash=token_hash(token), scopes=[str(x) for x in scopes], disabled=False,
                         created_at=now, rotated_at=now))
    return token


def rotate(s: Session, name: str) -> str:
    """A new token for the account (enabled again if it was revoked); the old one stops working."""
    account = _get(s, name)
    token = _new_token()
    account.token_hash, account.rotated_at, account.disabled = token_hash(token), utcnow(), False
    return token


def revoke(s: Session, name: str) -> None:
    _get(s, name).disabled = True


def listed(s: Session) -> list[AccountOut]:
    return [AccountOut(name=a.name, scopes=[Scope(x) for x in a.scopes], disabled=a.disabled,
                       created_at=a.created_at, rotated_at=a.rotated_at, last_used_at=a.last_used_at)
            for a in s.scalars(select(ServiceAccount).order_by(ServiceAccount.name))]


def authenticate(s: Session, token: str) -> ServiceAccount | None:
    """The enabled account of a bearer token, or None. Notes the use (at most once a minute)."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > MAX_TOKEN_LENGTH:
        return None
    account = s.scalar(select(ServiceAccount).where(ServiceAccount.token_hash == token_hash(token)))
    if account is None or account.disabled:
        return None
    now = utcnow()
    if account.last_used_at is None or (now - account.last_used_at).total_seconds() >= 60:
        account.last_used_at = now
    return account
