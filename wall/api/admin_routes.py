"""Admin API: users, their sessions, camera groups and grants (the audit log: audit_routes). Admins only (403 for
others).

Every change is audited with the admin's name and address, in the same transaction as the change.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status
from fastapi import Path as PathParam
from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from wall.access import audit_refusal, require
from wall.api.common import ADMIN_ONLY, Answers, Closed, error
from wall.api.deps import services
from wall.auth import audit, grants, passwords, sessions, throttle, users
from wall.auth.principal import GrantRight, Permission, Principal, Role
from wall.store.accounts import AuditEntry, CameraGroup, Grant, LoginSession, User

router = APIRouter(prefix="/api", tags=["admin"], responses=ADMIN_ONLY)
Admin = Annotated[Principal, Depends(require(Permission.ADMINISTER))]
NOT_FOUND: Answers = {404: error("no such user, group, grant or session")}
BAD: Answers = {400: error("invalid (the message says why)")}
CONFLICT: Answers = {409: error("conflicts with the current state (exists, last admin, group from cameras.yaml)")}
RowId = Annotated[int, PathParam(ge=1, le=2**62)]


class UserOut(BaseModel):
    name: str
    role: str
    state: str = Field(description="active, locked (by an admin) or disabled")
    locked: bool
    disabled: bool
    locked_out_until: datetime | None = Field(description="Set while failed logins keep the account locked.")
    locked_out_reason: str | None = Field(default=None, description="Why failed logins locked it (which "
                                          "addresses, how many); the details: GET /api/users/{name}/logins.")
    created_at: datetime
    password_changed_at: datetime
    sessions: int
    last_login_at: datetime | None = Field(default=None, description="The last successful login (from the audit "
                                           "log; none if never, or purged past retention).")


class UserCreate(Closed):
    name: str = Field(min_length=1, max_length=64, pattern=grants.USER_NAME.pattern)
    role: Role
    password: str = Field(min_length=1, max_length=passwords.MAX_LENGTH)


class UserPatch(Closed):
    role: Role | None = None
    locked: bool | None = Field(default=None, description="true locks (sessions end), false unlocks (also after "
                                "failed logins)")
    disabled: bool | None = Field(default=None, description="true disables (as DELETE does), false enables again")
    password: str | None = Field(default=None, min_length=1, max_length=passwords.MAX_LENGTH,
                                 description="A new password (policy and history apply); sessions end.")


class SessionOut(BaseModel):
    id: int
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    address: str | None
    user_agent: str | None
    current: bool = Field(description="The session this request came with.")


class GroupOut(BaseModel):
    name: str
    cameras: list[str]
    source: str = Field(description="config (follows cameras.yaml) or admin")


class GroupIn(Closed):
    name: str = Field(min_length=1, max_length=grants.GROUP_NAME_MAX)
    cameras: list[str] = Field(default_factory=list, max_length=10000)


class GroupCameras(Closed):
    cameras: list[str] = Field(max_length=10000)


class GroupPatch(Closed):
    name: str | None = Field(default=None, min_length=1, max_length=grants.GROUP_NAME_MAX,
                             description="A new name; the group's grants follow it.")
    cameras: list[str] | None = Field(default=None, max_length=10000, description="The new members, if given.")


class GrantOut(BaseModel):
    id: int
    subject: str = Field(description="a user name, or role:NAME")
    target: str = Field(description="a camera id, or group:NAME")
    right: GrantRight = Field(description="what the grant gives on its cameras: the live view, playback of "
                              "their recordings, or PTZ control")
    created_at: datetime
    created_by: str | None


class GrantIn(Closed):
    subject: str = Field(min_length=1, max_length=80, description="a user name, or role:NAME")
    target: str = Field(min_length=1, max_length=80, description="a camera id, or group:NAME")
    right: GrantRight = Field(GrantRight.VIEW, description="view (the default), playback or ptz")


def _camera_ids(request: Request) -> list[str]:
    """Every camera of cameras.yaml (disabled ones too: a grant may wait for its camera to be switched on)."""
    return [c.id for c in services(request).site.cameras]


def _record(s: Session, admin: Principal, action: str, target: str, success: bool = True,
            detail: dict[str, Any] | None = None) -> None:
    audit.record(s, user=admin.name, action=action, target=target, success=success, address=admin.address,
                 detail=detail)


def _user_out(s: Session, user: User, now: datetime) -> UserOut:
    count = s.scalar(select(func.count()).select_from(LoginSession).where(
        LoginSession.user_id == user.id, LoginSession.expires_at > now)) or 0
    # The audit log already holds every login (who, when, whether it worked): no second copy on the user row.
    last_login = s.scalar(select(func.max(AuditEntry.at)).where(
        AuditEntry.username == user.name, AuditEntry.action == "login", AuditEntry.success.is_(True)))
    lock = throttle.account_lockout(s, user.name, now)
    return UserOut(name=user.name, role=user.role, state=users.user_state(user), locked=user.locked,
                   disabled=user.disabled, locked_out_until=lock.until if lock else None,
                   locked_out_reason=lock.reason if lock else None,
                   created_at=user.created_at, password_changed_at=user.password_changed_at, sessions=count,
                   last_login_at=last_login)


# -- users ----------------------------------------------------------------------------------------------------


@router.get("/users")
def list_users(admin: Admin, request: Request) -> list[UserOut]:
    with services(request).db.session() as s:
        return [_user_out(s, u, services(request).clock()) for u in s.scalars(select(User).order_by(User.name))]


@router.post("/users", status_code=status.HTTP_201_CREATED, responses={**BAD, **CONFLICT})
def create_user(body: UserCreate, admin: Admin, request: Request) -> UserOut:
    target = f"user:{body.name}"
    with audit_refusal(request, admin, "user.create", target), services(request).db.session() as s:
        user = users.create_user(s, body.name, body.role, body.password, services(request).security)
        _record(s, admin, "user.create", target, detail={"role": body.role})
        return _user_out(s, user, services(request).clock())


@router.get("/users/{name}", responses=NOT_FOUND)
def get_user(name: str, admin: Admin, request: Request) -> UserOut:
    with services(request).db.session() as s:
        return _user_out(s, users.find_user(s, name), services(request).clock())


@router.get("/users/{name}/logins", responses=NOT_FOUND)
def user_logins(name: str, admin: Admin, request: Request) -> throttle.LoginReport:
    """Why an account is locked or slowed down: its lockout and reason, its usual addresses, and the recent
    failed logins by address (those from usual addresses count towards the lock; the others wait)."""
    svc = services(request)
    with svc.db.session() as s:
        user = users.find_user(s, name)
        return throttle.report(s, user.name, svc.security, svc.clock())


@router.patch("/users/{name}", responses={**NOT_FOUND, **BAD, **CONFLICT})
def update_user(name: str, body: UserPatch, admin: Admin, request: Request) -> UserOut:
    """Change role, lock or unlock, disable or enable, or set a new password — each audited on its own."""
    target = f"user:{name}"
    settings = services(request).security
    with audit_refusal(request, admin, "user.update", target) as attempt, services(request).db.session() as s:
        user = users.find_user(s, name)
        if body.role is not None and body.role != user.role:
            attempt.action = "user.role"
            before = user.role
            users.set_role(s, user, body.role)
            _record(s, admin, attempt.action, target, detail={"from": before, "to": body.role})
        if body.locked is True:
            attempt.action = "user.lock"
            ended = users.lock(s, user)
            _record(s, admin, attempt.action, target, detail={"sessions_ended": ended})
        elif body.locked is False:
            attempt.action = "user.unlock"
            users.unlock(s, user)
            _record(s, admin, attempt.action, target)
        if body.disabled is True:
            attempt.action = "user.disable"
            ended = users.disable(s, user)
            _record(s, admin, attempt.action, target, detail={"sessions_ended": ended})
        elif body.disabled is False:
            attempt.action = "user.enable"
            users.enable(s, user)
            _record(s, admin, attempt.action, target)
        if body.password is not None:
            attempt.action = "user.password"
            ended = users.set_password(s, user, body.password, settings)
            _record(s, admin, attempt.action, target, detail={"sessions_ended": ended, "by": "admin"})
        return _user_out(s, user, services(request).clock())


@router.delete("/users/{name}", status_code=status.HTTP_204_NO_CONTENT, responses={**NOT_FOUND, **CONFLICT})
def disable_user(name: str, admin: Admin, request: Request) -> Response:
    """Disable the account (it cannot log in, its sessions end). Rows stay for the audit trail."""
    target = f"user:{name}"
    with audit_refusal(request, admin, "user.disable", target), services(request).db.session() as s:
        ended = users.disable(s, users.find_user(s, name))
        _record(s, admin, "user.disable", target, detail={"sessions_ended": ended})
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/users/{name}/sessions", responses=NOT_FOUND)
def list_sessions(name: str, admin: Admin, request: Request) -> list[SessionOut]:
    with services(request).db.session() as s:
        user = users.find_user(s, name)
        return [SessionOut(id=r.id, created_at=r.created_at, last_seen_at=r.last_seen_at, expires_at=r.expires_at,
                           address=r.address, user_agent=r.user_agent, current=r.id == admin.session_id)
                for r in sessions.active(s, user.id, services(request).security)]


@router.delete("/users/{name}/sessions", status_code=status.HTTP_204_NO_CONTENT, responses=NOT_FOUND)
def end_sessions(name: str, admin: Admin, request: Request) -> Response:
    """End every session of the user (they must log in again; open live views close within a second)."""
    with services(request).db.session() as s:
        user = users.find_user(s, name)
        ended = sessions.end_all(s, user.id)
        _record(s, admin, "session.end", f"user:{name}", detail={"sessions_ended": ended})
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.delete("/users/{name}/sessions/{session_id}", status_code=status.HTTP_204_NO_CONTENT, responses=NOT_FOUND)
def end_session(name: str, session_id: RowId, admin: Admin, request: Request) -> Response:
    with services(request).db.session() as s:
        row = s.get(LoginSession, session_id)
        user = s.scalar(select(User).where(User.name == name))
        if row is None or user is None or row.user_id != user.id:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no such session")
        sessions.end(s, session_id)
        _record(s, admin, "session.end", f"user:{name}", detail={"session": session_id})
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# -- groups ---------------------------------------------------------------------------------------------------


def _group_out(s: Session, group: CameraGroup) -> GroupOut:
    return GroupOut(name=group.name, cameras=grants.group_members(s, group), source=group.source)


@router.get("/groups")
def list_groups(admin: Admin, request: Request) -> list[GroupOut]:
    with services(request).db.session() as s:
        return [_group_out(s, g) for g in s.scalars(select(CameraGroup).order_by(CameraGroup.name))]


@router.post("/groups", status_code=status.HTTP_201_CREATED, responses={**BAD, **CONFLICT})
def create_group(body: GroupIn, admin: Admin, request: Request) -> GroupOut:
    target = f"group:{body.name}"
    with audit_refusal(request, admin, "group.create", target), services(request).db.session() as s:
        group = grants.create_group(s, body.name, body.cameras, _camera_ids(request))
        _record(s, admin, "group.create", target, detail={"cameras": sorted(set(body.cameras))})
        return _group_out(s, group)


@router.put("/groups/{name:path}", responses={**NOT_FOUND, **BAD, **CONFLICT})
def update_group(name: str, body: GroupCameras, admin: Admin, request: Request) -> GroupOut:
    """Set an admin-made group's cameras (groups from cameras.yaml follow the file)."""
    target = f"group:{name}"
    with audit_refusal(request, admin, "group.update", target), services(request).db.session() as s:
        group = grants.update_group(s, name, body.cameras, _camera_ids(request))
        _record(s, admin, "group.update", target, detail={"cameras": sorted(set(body.cameras))})
        return _group_out(s, group)


@router.patch("/groups/{name:path}", responses={**NOT_FOUND, **BAD, **CONFLICT})
def patch_group(name: str, body: GroupPatch, admin: Admin, request: Request) -> GroupOut:
    """Rename an admin-made group (its grants follow the new name) and/or set its cameras, in one unit of work."""
    target = f"group:{name}"
    with audit_refusal(request, admin, "group.update", target) as attempt, services(request).db.session() as s:
        group = grants.find_group(s, name)
        if body.cameras is not None:
            group = grants.update_group(s, name, body.cameras, _camera_ids(request))
            _record(s, admin, attempt.action, target, detail={"cameras": sorted(set(body.cameras))})
        if body.name is not None and body.name != name:
            attempt.action = "group.rename"
            group = grants.rename_group(s, name, body.name)
            _record(s, admin, attempt.action, f"group:{body.name}", detail={"from": name})
        return _group_out(s, group)


@router.delete("/groups/{name:path}", status_code=status.HTTP_204_NO_CONTENT, responses={**NOT_FOUND, **CONFLICT})
def delete_group(name: str, admin: Admin, request: Request) -> Response:
    """Delete an admin-made group and every grant of it."""
    target = f"group:{name}"
    with audit_refusal(request, admin, "group.delete", target), services(request).db.session() as s:
        removed = grants.delete_group(s, name)
        _record(s, admin, "group.delete", target, detail={"grants_removed": removed})
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# -- grants ---------------------------------------------------------------------------------------------------


@router.get("/grants", responses=BAD)
def list_grants(admin: Admin, request: Request,
                subject: Annotated[str | None, Query(max_length=80)] = None,
                target: Annotated[str | None, Query(max_length=80)] = None,
                right: GrantRight | None = None) -> list[GrantOut]:
    query = select(Grant).order_by(Grant.id)
    if right is not None:
        query = query.where(Grant.right == right)
    if subject is not None:
        sub = grants.Subject.parse(subject)
        query = query.where(Grant.subject_kind == sub.kind, Grant.subject == sub.name)
    if target is not None:
        tgt = grants.Target.parse(target)
        query = query.where(Grant.target_kind == tgt.kind, Grant.target == tgt.name)
    with services(request).db.session() as s:
        return [GrantOut(**grants.grant_out(g)) for g in s.scalars(query)]


@router.post("/grants", status_code=status.HTTP_201_CREATED, responses={**BAD, **NOT_FOUND, **CONFLICT})
def create_grant(body: GrantIn, admin: Admin, request: Request) -> GrantOut:
    """Grant a camera or a group to a user or a role; takes effect at once (open live views included)."""
    shown = f"{body.target} → {body.subject}"
    with audit_refusal(request, admin, "grant.create", shown[:200]):
        subject, target = grants.Subject.parse(body.subject), grants.Target.parse(body.target)
        with services(request).db.session() as s:
            grant = grants.add_grant(s, subject, target, _camera_ids(request), by=admin.name, right=body.right)
            _record(s, admin, "grant.create", str(target), detail={"subject": str(subject), "grant": grant.id,
                                                                   "right": body.right.value})
            return GrantOut(**grants.grant_out(grant))


@router.delete("/grants/{grant_id}", status_code=status.HTTP_204_NO_CONTENT, responses=NOT_FOUND)
def delete_grant(grant_id: RowId, admin: Admin, request: Request) -> Response:
    """Revoke a grant; open live views of cameras no longer granted close within a second (code 4403)."""
    with services(request).db.session() as s:
        grant = s.get(Grant, grant_id)
        if grant is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no such grant")
        out = grants.grant_out(grant)
        s.delete(grant)
        _record(s, admin, "grant.delete", str(out["target"]), detail={"subject": out["subject"], "grant": grant_id,
                                                                      "right": out["right"]})
    return Response(status_code=status.HTTP_204_NO_CONTENT)
