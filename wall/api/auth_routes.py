"""Login, logout and the user's own account: ``/api/session``, ``/api/me``, ``/api/me/password``; and what each
role may do (``/api/roles``), which the pages follow instead of knowing the roles themselves."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, status
from pydantic import BaseModel, Field

from wall.access import (
    audit_refusal,
    clear_cookie_header,
    client_address,
    current_principal,
    principal_from_token,
    session_cookie_header,
)
from wall.api.common import UNAUTHENTICATED, Closed, ErrorOut, error
from wall.api.deps import services
from wall.auth import audit, login, passwords, sessions, users
from wall.auth.principal import Permission, Principal, Role, permissions_of
from wall.errors import NotAuthenticated
from wall.store.accounts import LoginSession

router = APIRouter(prefix="/api", tags=["session"])
Viewer = Annotated[Principal, Depends(current_principal)]


class LoginIn(Closed):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=passwords.MAX_LENGTH)


class PasswordChangeIn(Closed):
    current_password: str = Field(min_length=1, max_length=passwords.MAX_LENGTH)
    new_password: str = Field(min_length=1, max_length=passwords.MAX_LENGTH)


class MeOut(BaseModel):
    name: str
    role: Role
    permissions: list[Permission] = Field(description="What the role lets the user do (the pages show what "
                                          "this allows).")
    cameras: list[str] = Field(description="Ids of the cameras this user may view now.")
    playback: list[str] = Field(description="Ids of the cameras whose recordings this user may play back.")
    ptz: list[str] = Field(description="Ids of the cameras this user may steer (PTZ).")
    idle_timeout_seconds: int
    expires_at: datetime | None = Field(description="When the session ends at the latest (absolute lifetime).")


class RoleOut(BaseModel):
    name: Role
    permissions: list[Permission]


def me_out(request: Request, principal: Principal, expires_at: datetime | None) -> MeOut:
    registry = services(request).registry
    enabled = [c.id for c in registry.cameras() if c.enabled]
    return MeOut(name=principal.name, role=principal.role, permissions=permissions_of(principal.role),
                 cameras=sorted(c for c in enabled if principal.may_view(c)),
                 playback=sorted(c for c in enabled if principal.may_play_back(c)),
                 ptz=sorted(c for c in enabled if principal.may_control_ptz(c)),
                 idle_timeout_seconds=services(request).security.session_idle_seconds, expires_at=expires_at)


def _expires_at(request: Request, principal: Principal) -> datetime | None:
    with services(request).db.session() as s:
        row = s.get(LoginSession, principal.session_id) if principal.session_id else None
        return row.expires_at if row else None


@router.post(
    "/session",
    responses={401: error("wrong user name or password"), 403: error("the account is locked or disabled"),
               429: {"model": ErrorOut, "description": "too many failed logins from this name or address",
                     "headers": {"Retry-After": {"schema": {"type": "integer"}}}}},
)
def log_in(body: LoginIn, request: Request, response: Response) -> MeOut:
    """Log in: sets the session cookie (HttpOnly, SameSite=Strict) and returns who the user is."""
    result = login.login(services(request).db, services(request).security, body.username, body.password,
                         client_address(request), request.headers.get("user-agent"),
                         request.cookies.get(sessions.COOKIE), clock=services(request).clock)
    principal = principal_from_token(request.app, result.token, client_address(request))
    if principal is None:  # locked in the instant between the two  # pragma: no cover
        raise NotAuthenticated(login.BAD_CREDENTIALS)
    response.headers.append("set-cookie", session_cookie_header(request, result.token))
    response.headers["cache-control"] = "no-store"
    return me_out(request, principal, result.expires_at)


@router.delete("/session", status_code=status.HTTP_204_NO_CONTENT, responses=UNAUTHENTICATED)
def log_out(principal: Viewer, request: Request) -> Response:
    """Log out: the session ends on the server (the old cookie opens nothing any more) and the cookie is cleared."""
    with services(request).db.session() as s:
        if principal.session_id is not None:
            sessions.end(s, principal.session_id)
        audit.record(s, user=principal.name, action="logout", target=None, success=True, address=principal.address,
                     detail={"session": principal.session_id})
    return Response(status_code=status.HTTP_204_NO_CONTENT, headers={"set-cookie": clear_cookie_header(request)})


@router.get("/me", responses=UNAUTHENTICATED)
def me(principal: Viewer, request: Request) -> MeOut:
    """The logged-in user: name, role and the cameras they may view."""
    return me_out(request, principal, _expires_at(request, principal))


@router.put("/me/password", responses={**UNAUTHENTICATED, 400: error("the new password breaks the policy"),
                                       403: error("the current password is wrong"),
                                       429: {"model": ErrorOut, "description": "too many wrong passwords",
                                             "headers": {"Retry-After": {"schema": {"type": "integer"}}}}})
def change_password(body: PasswordChangeIn, principal: Viewer, request: Request, response: Response) -> MeOut:
    """Change one's own password. Every session of the user ends; this browser gets a new one. A wrong current
    password counts as a failed login of the account (same throttle, same lockout) and is audited."""
    db, settings = services(request).db, services(request).security
    login.check_current_password(db, settings, principal.name, body.current_password,
                                 principal.address or client_address(request), services(request).clock)
    target = f"user:{principal.name}"
    with audit_refusal(request, principal, "user.password", target), db.session() as s:
        user = users.find_user(s, principal.name)
        ended = users.set_password(s, user, body.new_password, settings)
        token, row = sessions.start(s, user, settings, principal.address, request.headers.get("user-agent"))
        audit.record(s, user=principal.name, action="user.password", target=target, success=True,
                     address=principal.address, detail={"sessions_ended": ended})
    response.headers.append("set-cookie", session_cookie_header(request, token))
    fresh = replace(principal, session_id=row.id)
    return me_out(request, fresh, row.expires_at)


@router.get("/roles", responses=UNAUTHENTICATED)
def roles(principal: Viewer) -> list[RoleOut]:
    """Every role and what it may do (``wall.auth.principal.PERMISSIONS``): the admin page lists the roles to
    choose from and the ones grants apply to (those without ``all_cameras``) from here."""
    return [RoleOut(name=role, permissions=permissions_of(role)) for role in Role]
