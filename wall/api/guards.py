"""What every HTTP request passes before any route: a bounded body, JSON or nothing, and no traceback that
quotes it.

``RequestGuard`` is pure ASGI (no ``BaseHTTPMiddleware``: it must not buffer the very body it bounds):

- **Size.** A body declared longer than ``max_body_bytes`` (``server.max_body_bytes``) is answered 413 before
  a byte of it is read; a chunked body (no Content-Length) is counted while the route reads it and refused
  with 413 the moment it passes the limit. Without it a 100 MB login body was parsed whole (RSS +400 MB).
- **Type.** The API takes JSON only (the pages send nothing else, and there are no uploads): a body of any
  other type on ``/api/`` is 415. Form and multipart bodies never reach FastAPI's parser, and a cross-site
  HTML form (a CORS "simple" request) cannot post to the API at all.
- **Crashes.** An exception no handler answered becomes a plain 500 here, logged with its type, the route
  and the stack's frames but *not* its message: messages of validation and decoding errors quote their input
  (a password, a token), and uvicorn's own "Exception in ASGI application" would print them whole.
"""

from __future__ import annotations

import contextlib
import logging
import traceback

from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("wall.api")
DEFAULT_MAX_BODY_BYTES = 1 << 20
JSON_ONLY_PREFIX = "/api/"


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` when a streamed body passes the limit: an HTTPException, so FastAPI's body
    reader lets it through (any other exception there becomes its 400 "error parsing the body")."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than {limit} bytes")


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None


def is_json_type(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def crash_report(exc: BaseException) -> str:
    """The stack of ``exc`` and of its causes: types and frames (file, line, function, source line), never
    the exceptions' messages."""
    parts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        frames = "".join(traceback.format_list(traceback.extract_tb(current.__traceback__)))
        parts.append(f"{type(current).__module__}.{type(current).__qualname__} (message withheld)\n{frames}")
        current = current.__cause__ or current.__context__
    return "caused by:\n".join(parts)


class RequestGuard:
    def __init__(self, app: ASGIApp, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await self._contained(scope, receive, send)
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = self._refusal(scope)
        if refusal is not None:
            status, message = refusal
            await JSONResponse({"detail": message}, status_code=status)(scope, receive, send)
            return
        limit, seen = self.max_body_bytes, 0

        async def bounded() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(limit)
            return message

        await self._contained(scope, bounded, send)

    def _refusal(self, scope: Scope) -> tuple[int, str] | None:
        length = _header(scope, b"content-length")
        if length is not None:
            if not length.strip().isdigit():
                return 400, "Content-Length is not a number"
            if int(length) > self.max_body_bytes:
                return 413, f"the request body is larger than {self.max_body_bytes} bytes"
        has_body = (length is not None and int(length) > 0) or _header(scope, b"transfer-encoding") is not None
        if has_body and str(scope.get("path", "")).startswith(JSON_ONLY_PREFIX):
            content_type = _header(scope, b"content-type")
            if content_type is None or not is_json_type(content_type):
                return 415, "the API takes JSON bodies only (Content-Type: application/json)"
        return None

    async def _contained(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = closed = False

        async def tracked(message: Message) -> None:
            nonlocal started, closed
            started = started or message["type"] in ("http.response.start", "websocket.accept")
            closed = closed or message["type"] in ("websocket.close", "websocket.http.response.start")
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except BodyTooLarge as exc:  # raised outside a route's reader (e.g. a middleware read the body)
            if not started:
                await JSONResponse({"detail": exc.detail}, status_code=413)(scope, receive, send)
        except Exception as exc:
            log.error("unhandled %s in %s %s\n%s", type(exc).__name__, scope.get("method", "WEBSOCKET"),
                      scope.get("path", "?"), crash_report(exc))
            if scope["type"] == "http" and not started:
                await JSONResponse({"detail": "internal error"}, status_code=500)(scope, receive, send)
            elif scope["type"] == "websocket" and started and not closed:
                with contextlib.suppress(Exception):  # the client may be gone already
                    await send({"type": "websocket.close", "code": 1011})
            # else: a started HTTP answer cannot be mended (the server drops the connection), and a WebSocket
            # not yet accepted is answered 500 by the server when the app returns without a handshake
