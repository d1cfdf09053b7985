"""The one place that decides who may see which camera — every API route and WebSocket goes through here.

Accounts, grants and sessions arrive with the access-control work; until then every request is an anonymous
principal allowed all cameras, and that change will touch only this module. Two rules already hold:
- a camera the principal may not see is answered exactly like one that does not exist (404, same body);
- a WebSocket handshake from a foreign Origin is refused (cross-site WebSocket hijacking);
- camera URLs never leave the server, not even inside an error message (:func:`public_error`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from fastapi import HTTPException, Request, WebSocket, status

from streams.session import CameraSession

NOT_FOUND = "camera not found"
CAMERA_URL = "<camera url>"
_URL = re.compile(r"[a-z][a-z0-9+.-]*://[^\s'\"<>]*", re.IGNORECASE)


@dataclass(frozen=True)
class Principal:
    name: str
    all_cameras: bool = False
    cameras: frozenset[str] = frozenset()

    def may_view(self, camera_id: str) -> bool:
        return self.all_cameras or camera_id in self.cameras


ANONYMOUS = Principal("anonymous", all_cameras=True)


def current_principal(request: Request) -> Principal:
    """FastAPI dependency for HTTP routes."""
    return ANONYMOUS


def websocket_principal(websocket: WebSocket) -> Principal | None:
    """The principal of a WebSocket handshake, or None to refuse it (bad Origin, later: no session)."""
    if not origin_allowed(websocket.headers.get("origin"), websocket.headers.get("host"),
                          websocket.app.state.allowed_origins):
        return None
    return ANONYMOUS


def origin_allowed(origin: str | None, host: str | None, allowed: list[str]) -> bool:
    """Browsers always send Origin on WebSockets; non-browser clients (tools, tests) may omit it."""
    if origin is None:
        return True
    if host and origin in (f"http://{host}", f"https://{host}"):
        return True
    return origin in allowed


def visible_sessions(principal: Principal, sessions: list[CameraSession]) -> list[CameraSession]:
    return [s for s in sessions if principal.may_view(s.id)]


def camera_or_404(principal: Principal, session: CameraSession | None) -> CameraSession:
    if session is None or not principal.may_view(session.id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, NOT_FOUND)
    return session


def public_error(message: str | None) -> str | None:
    """A camera error as a client may see it: every URL in it replaced, because FFmpeg quotes the camera's
    URL in its messages and even with the password redacted (``rtsp://***@host:port/path``) the address of a
    camera on the police network is not for the browser."""
    return None if message is None else _URL.sub(CAMERA_URL, message)
