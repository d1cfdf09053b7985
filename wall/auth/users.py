"""User accounts: create, change role, lock, unlock, disable, set a password (policy and history checked).

Shared by the admin API and the ``citywall user`` commands; the caller audits (it knows who acted and from
where). There is no default account: the first admin is made with ``citywall user add NAME --role admin``.
"""

from __future__ import annotations

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from wall.auth import passwords, sessions, throttle
from wall.auth.grants import check_user_name
from wall.auth.principal import Permission, parse_role, roles_with
from wall.config import SecuritySettings
from wall.errors import Conflict, Invalid, NotFound
from wall.store.accounts import PasswordHistory, User, utcnow


def find_user(session: Session, name: str) -> User:
    user = session.scalar(select(User).where(User.name == name))
    if user is None:
        raise NotFound(f"no user '{name[:64]}'")
    return user


def _check_password(session: Session, user: User | None, name: str, password: str,
                    settings: SecuritySettings) -> None:
    problems = passwords.policy_problems(password, settings, name)
    if user is not None and settings.password_history > 0:
        earlier = session.scalars(select(PasswordHistory.password_hash).where(PasswordHistory.user_id == user.id)
                                  .order_by(PasswordHistory.id.desc()).limit(settings.password_history))
        if passwords.reused(password, earlier):
            problems.append(f"the password must differ from the last {settings.password_history} passwords")
    if problems:
        raise Invalid.of(problems)


def create_user(session: Session, name: str, role: str, password: str, settings: SecuritySettings) -> User:
    check_user_name(name)
    parse_role(role)
    if session.scalar(select(User.id).where(User.name == name)) is not None:
        raise Conflict(f"user '{name}' exists")
    _check_password(session, None, name, password, settings)
    now = utcnow()
    user = User(name=name, role=role, password_hash=passwords.hash_password(password), locked=False, disabled=False,
                created_at=now, password_changed_at=now)
    session.add(user)
    session.flush()
    session.add(PasswordHistory(user_id=user.id, password_hash=user.password_hash, created_at=now))
    return user


def set_password(session: Session, user: User, password: str, settings: SecuritySettings) -> int:
    """Set a new password (policy and history checked); ends every session of the user. Returns how many."""
    _check_password(session, user, user.name, password, settings)
    now = utcnow()
    user.password_hash = passwords.hash_password(password)
    user.password_changed_at = now
    session.add(PasswordHistory(user_id=user.id, password_hash=user.password_hash, created_at=now))
    keep = max(settings.password_history, 1)
    old_ids = list(session.scalars(select(PasswordHistory.id).where(PasswordHistory.user_id == user.id)
                                   .order_by(PasswordHistory.id.desc()).offset(keep + 5)))
    if old_ids:  # keep a few more than the policy needs, in case it is raised later; never every hash forever
        session.execute(delete(PasswordHistory).where(PasswordHistory.id.in_(old_ids))
                        .execution_options(synchronize_session=False))
    return sessions.end_all(session, user.id)


def count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(User)) or 0


ADMIN_ROLES = roles_with(Permission.ADMINISTER)


def active_admins(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(User).where(
        User.role.in_(ADMIN_ROLES), User.locked.is_(False), User.disabled.is_(False))) or 0


def _would_leave_no_admin(session: Session, user: User) -> bool:
    return user.role in ADMIN_ROLES and not user.locked and not user.disabled and active_admins(session) <= 1


def set_role(session: Session, user: User, role: str) -> None:
    if parse_role(role) not in ADMIN_ROLES and _would_leave_no_admin(session, user):
        raise Conflict("this is the last active admin: make another admin first")
    user.role = role


def lock(session: Session, user: User) -> int:
    """Lock the account until an admin unlocks it; ends its sessions."""
    if _would_leave_no_admin(session, user):
        raise Conflict("this is the last active admin: make another admin first")
    user.locked = True
    return sessions.end_all(session, user.id)


def unlock(session: Session, user: User) -> None:
    """Lift an admin's lock and any lockout after failed logins."""
    user.locked = False
    throttle.unlock_account(session, user.name)


def disable(session: Session, user: User) -> int:
    """"Delete" an account: it can no longer log in, its sessions end; the row stays for the audit trail."""
    if _would_leave_no_admin(session, user):
        raise Conflict("this is the last active admin: make another admin first")
    user.disabled = True
    return sessions.end_all(session, user.id)


def enable(session: Session, user: User) -> None:
    user.disabled = False


def user_state(user: User) -> str:
    return "disabled" if user.disabled else "locked" if user.locked else "active"
