"""The one place that decides who is asking and which cameras they may see — every API route and WebSocket
goes through here.

- A request is authenticated by its session cookie (an opaque token; see ``wall.auth.sessions``); no cookie, an
  unknown, expired or ended session, or a locked or disabled account is 401 on HTTP and close code 4401 on a
  WebSocket. What a role may do is ``wall.auth.principal``'s table, checked with ``require``.
- The cameras a principal may see are resolved from the grants at every request (``wall.auth.grants``), so a
  grant change takes effect at once; an open live WebSocket re-checks every second (``LiveAccess``) and is
  closed with 4403 when its camera is no longer granted.
- A camera the principal may not see is answered exactly like one that does not exist (404, same body).
- State-changing requests (POST, PUT, PATCH, DELETE) and every WebSocket handshake must come from the wall's own
  Origin or one in ``server.allowed_origins`` (cross-site request forgery, cross-site WebSocket hijacking).
- Camera URLs never leave the server, not even inside an error message (``settings.secrets.public_error``).
- The idle timeout counts the user's own actions only: a request the page sends by itself (polling, stills)
  carries ``X-Citywall-Background: 1`` (or ``?background=1``) and an open WebSocket's re-check is no use either,
  so a seat nobody touches idles out. Sessions of ``security.display_roles`` (hall kiosks) count everything.
- The client address is the peer's, unless the peer is one of ``server.trusted_proxies`` (then
  X-Forwarded-For's, resolved by uvicorn's ProxyHeadersMiddleware in ``wall.app``).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request, WebSocket, status
from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection

from wall.auth import audit, grants, sessions
from wall.auth.principal import Permission, Principal, Role
from wall.errors import DomainError
from wall.security_settings import SecuritySettings
from wall.services import Services
from wall.store.accounts import LoginSession, User
from wall.store.db import Database

log = logging.getLogger(__name__)

NOT_FOUND = "camera not found"
NOT_AUTHENTICATED = "not authenticated"
FORBIDDEN = "forbidden"
ORIGIN_REFUSED = "origin not allowed"
WS_NOT_AUTHENTICATED = 4401  # no session, or it ended (logout, timeout, lock, password change)
WS_FORBIDDEN = 4403  # the camera is no longer granted
WS_NOT_FOUND = 4404
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
BACKGROUND_HEADER = "x-citywall-background"


# -- resolving a session ------------------------------------------------------------------------------------


def client_address(conn: HTTPConnection) -> str:
    """The client's address: the peer's, or, when the peer is one of ``server.trusted_proxies``, the one its
    X-Forwarded-For names (``wall.app`` installs the proxy middleware only for those; none by default)."""
    return conn.client.host if conn.client else "unknown"


def is_background(conn: HTTPConnection) -> bool:
    """Whether the page sent this request by itself (polling, a still's refresh): no use of the session."""
    return conn.headers.get(BACKGROUND_HEADER) == "1" or conn.query_params.get("background") == "1"


def _camera_ids(app: FastAPI) -> list[str]:
    return [c.id for c in Services.of(app).registry.cameras() if c.enabled]  # the running ones


def _principal(db_session: Any, app: FastAPI, row: LoginSession, user: User, address: str | None,
               activity: bool = True) -> Principal | None:
    """``activity``: this request is the user's own doing (it refreshes the idle clock; for display roles
    everything does)."""
    parts = Services.of(app)
    settings: SecuritySettings = parts.security
    now = parts.clock()
    idle_for = parts.idle_clock.idle_for(row.id, row.last_seen_at, now)  # monotonic: a clock step changes nothing
    why = sessions.expired(row, settings, now, idle_for=idle_for)
    if why is None and (user.locked or user.disabled):
        why = "account locked" if user.locked else "account disabled"
    if why is not None:
        sessions.end(db_session, row.id)
        audit.record(db_session, user=user.name, action="session.expire", target=f"session:{row.id}", success=True,
                     address=address, detail={"reason": why})
        return None
    if (activity or user.role in settings.display_roles) and sessions.touch_due(row, settings, now, idle_for):
        row.last_seen_at = now
        parts.idle_clock.touched(row.id, now)
    principal = Principal(user.name, Role(user.role), session_id=row.id, address=address)
    if principal.may(Permission.ALL_CAMERAS):
        return replace(principal, all_cameras=True)
    rights = grants.camera_rights(db_session, user, _camera_ids(app))
    return replace(principal, cameras=rights.view, playback=rights.playback, ptz=rights.ptz)


def principal_from_token(app: FastAPI, token: str | None, address: str | None,
                         activity: bool = True) -> Principal | None:
    """The principal of a session token, or None (no such session, expired, account locked or disabled)."""
    if not token:
        return None
    db: Database = Services.of(app).db
    with db.session() as s:
        found = sessions.lookup(s, token)
        return None if found is None else _principal(s, app, *found, address, activity)


def refresh_principal(app: FastAPI, principal: Principal) -> Principal | None:
    """The same session seen again now — for long-lived connections (WebSockets) that must notice a logout, a
    lock or a grant change while they stay open. None when the session has ended. Seeing it again is no use of
    the session: an open socket alone never keeps it from idling out (display roles aside)."""
    if principal.session_id is None:
        return None
    db: Database = Services.of(app).db
    with db.session() as s:
        found = sessions.by_id(s, principal.session_id)
        if found is None or found[1].name != principal.name:
            return None
        return _principal(s, app, *found, principal.address, activity=False)


def _unauthenticated(request: Request) -> HTTPException:
    headers = None
    if sessions.COOKIE in request.cookies:  # tell the browser to drop a cookie that no longer opens anything
        headers = {"Set-Cookie": clear_cookie_header(request)}
    return HTTPException(status.HTTP_401_UNAUTHORIZED, NOT_AUTHENTICATED, headers=headers)


def current_principal(request: Request) -> Principal:
    """FastAPI dependency for HTTP routes: the logged-in principal, or 401."""
    principal = principal_from_token(request.app, request.cookies.get(sessions.COOKIE), client_address(request),
                                     activity=not is_background(request))
    if principal is None:
        raise _unauthenticated(request)
    return principal


def require(permission: Permission) -> Callable[[Principal], Principal]:
    """Dependency factory: the principal if their role has ``permission`` (``wall.auth.principal.PERMISSIONS``),
    else 403. ``Admin = Annotated[Principal, Depends(require(Permission.ADMINISTER))]``.
    """

    def dependency(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        if not principal.may(permission):
            raise HTTPException(status.HTTP_403_FORBIDDEN, FORBIDDEN)
        return principal

    return dependency


async def websocket_principal(websocket: WebSocket) -> Principal | None:
    """Check a WebSocket handshake: Origin first (refused: HTTP 403 at the handshake), then the session cookie
    (none or ended: accepted and closed with 4401, so that a client can tell "log in again" from a refusal).
    Returns None when the socket has been closed; the route just returns."""
    if not origin_allowed(websocket.headers.get("origin"), websocket.headers.get("host"),
                          Services.of(websocket.app).allowed_origins):
        await websocket.close(code=status.WS_1008_POLICY_VIOLATION)
        return None
    principal = await run_in_threadpool(principal_from_token, websocket.app, websocket.cookies.get(sessions.COOKIE),
                                        client_address(websocket), False)  # opening a socket is no use either
    if principal is None:
        await websocket.accept()
        await websocket.close(code=WS_NOT_AUTHENTICATED, reason=NOT_AUTHENTICATED)
        return None
    return principal


def audit_action(request: HTTPConnection, principal: Principal, action: str, target: str | None, success: bool,
                 detail: dict[str, Any] | None = None) -> None:
    """Audit what ``principal`` did, in a transaction of its own — for a route whose change was committed (or
    refused) elsewhere, e.g. by the case desk. Inside a unit of work of your own, call ``audit.record`` with
    that session instead, so the row commits (or rolls back) with the change."""
    db: Database = Services.of(request.app).db
    with db.session() as s:
        audit.record(s, user=principal.name, action=action, target=target, success=success,
                     address=principal.address or client_address(request), detail=detail)


@dataclass
class Attempt:
    """What a refused change is audited as; a route that makes several changes moves ``action`` along."""

    action: str
    target: str


def _reason(exc: DomainError) -> dict[str, Any]:
    return {"reason": exc.message}


@contextmanager
def audit_refusal(request: HTTPConnection, principal: Principal, action: str, target: str,
                  why: Callable[[DomainError], dict[str, Any]] = _reason) -> Iterator[Attempt]:
    """Audit a change the domain refuses, then let the error go on to ``wall.api.errors`` for the answer.
    Open the unit of work inside (``with audit_refusal(…) as attempt, db.session() as s:``): it has rolled
    back by the time the refusal is recorded, in a transaction of its own."""
    attempt = Attempt(action, target)
    try:
        yield attempt
    except DomainError as exc:
        audit_action(request, principal, attempt.action, attempt.target, False, why(exc))
        raise


RECHECK_SHARE_SECONDS = 0.9  # a little under wall.live's RECHECK_SECONDS: each socket still sees a look a second
RECHECKS_KEPT = 4096
_RECHECKS: dict[tuple[int, int | None], tuple[float, Principal | None]] = {}  # (services, session) → last look


def _forget_stale_rechecks() -> None:
    now = time.monotonic()
    for key, (at, _) in list(_RECHECKS.items()):
        if now - at >= RECHECK_SHARE_SECONDS:
            _RECHECKS.pop(key, None)


class LiveAccess:
    """What ``wall.live`` needs to keep one viewer honest: re-check the right to the camera, audit the view."""

    def __init__(self, app: FastAPI, principal: Principal, camera_id: str) -> None:
        self.app = app
        self.principal = principal
        self.camera_id = camera_id

    def check(self) -> int | None:
        """None while the viewer may still watch; else the close code (4401 session ended, 4403 not granted).
        Looks at the database (call it in a worker thread); the answer is shared by the session's other sockets."""
        principal = refresh_principal(self.app, self.principal)
        _RECHECKS[self._key] = (time.monotonic(), principal)
        if len(_RECHECKS) > RECHECKS_KEPT:
            _forget_stale_rechecks()
        return self._code(principal)

    def recent(self) -> tuple[bool, int | None]:
        """``(True, code)`` when another socket of this session looked less than ``RECHECK_SHARE_SECONDS`` ago
        (no database, no thread); ``(False, None)`` when this one must ``check``."""
        hit = _RECHECKS.get(self._key)
        if hit is None or time.monotonic() - hit[0] >= RECHECK_SHARE_SECONDS:
            return False, None
        return True, self._code(hit[1])

    @property
    def _key(self) -> tuple[int, int | None]:
        return id(Services.of(self.app)), self.principal.session_id

    def _code(self, principal: Principal | None) -> int | None:
        if principal is None or self.principal.session_id is None:
            return WS_NOT_AUTHENTICATED
        return None if principal.may_view(self.camera_id) else WS_FORBIDDEN

    def record(self, action: str, detail: dict[str, Any] | None = None) -> None:
        with Services.of(self.app).db.session() as s:
            audit.record(s, user=self.principal.name, action=action, target=f"camera:{self.camera_id}",
                         success=True, address=self.principal.address, detail=detail)


# -- cookies --------------------------------------------------------------------------------------------------


def is_https(conn: HTTPConnection) -> bool:
    return conn.url.scheme in ("https", "wss")


def session_cookie_header(conn: HTTPConnection, token: str) -> str:
    """HttpOnly (no script reads it), SameSite=Strict (no other site sends it), Secure over https; no Max-Age:
    it dies with the browser, and the server ends it earlier by the idle and absolute clocks."""
    secure = "; Secure" if is_https(conn) else ""
    return f"{sessions.COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict{secure}"


def clear_cookie_header(conn: HTTPConnection) -> str:
    secure = "; Secure" if is_https(conn) else ""
    return f"{sessions.COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict{secure}"


# -- Origin -------------------------------------------------------------------------------------------------


def origin_allowed(origin: str | None, host: str | None, allowed: list[str]) -> bool:
    """Browsers send Origin on every WebSocket handshake and on every state-changing request; a request
    without one comes from a tool (curl, the tests), which cookies of a browser cannot ride on."""
    if origin is None:
        return True
    if host and origin in (f"http://{host}", f"https://{host}"):
        return True
    return origin in allowed


class OriginGuard:
    """ASGI middleware: a POST, PUT, PATCH or DELETE from a foreign Origin (or marked cross-site by the
    browser's Sec-Fetch-Site) is refused with 403 before any route runs."""

    def __init__(self, app: Callable[..., Awaitable[None]], allowed: list[str]) -> None:
        self.app = app
        self.allowed = allowed

    async def __call__(self, scope: MutableMapping[str, Any], receive: Callable[..., Awaitable[Any]],
                       send: Callable[..., Awaitable[None]]) -> None:
        if scope["type"] == "http" and scope["method"] in STATE_CHANGING:
            headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
            allowed = origin_allowed(headers.get("origin"), headers.get("host"), self.allowed)
            if not allowed or headers.get("sec-fetch-site") == "cross-site":
                body = json.dumps({"detail": ORIGIN_REFUSED}).encode()
                await send({"type": "http.response.start", "status": 403,
                            "headers": [(b"content-type", b"application/json"),
                                        (b"content-length", str(len(body)).encode())]})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)
