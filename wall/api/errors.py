"""Errors → HTTP answers, in one place: the routes let ``wall.errors`` kinds through and this handler
gives each its status and the one body shape, ``{"detail": message}`` (plus ``problems`` when the refusal was
given as a list of them, as the editor's and the password policy's are).

A request that fails FastAPI's own validation (a body that is not the model, a bad query parameter) is answered
here too, as 422 with each problem's location and message — but never with the input. FastAPI's default
handler echoes every rejected value: a password comes back in the answer, and a JSON string with a lone
surrogate (``"\\ud800"``) cannot even be encoded, so the answer became a 500 whose traceback, quoting the
input, went to the log."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, cast

from fastapi import FastAPI, Request, WebSocket, status
from fastapi.exceptions import RequestValidationError, WebSocketRequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DBAPIError

from wall.errors import (
    Conflict,
    DomainError,
    Forbidden,
    Invalid,
    NotAuthenticated,
    NotFound,
    TooMany,
    Unprocessable,
)
from wall.store.db import unavailable

log = logging.getLogger(__name__)

STATUS: dict[type[DomainError], int] = {
    Invalid: status.HTTP_400_BAD_REQUEST,
    NotAuthenticated: status.HTTP_401_UNAUTHORIZED,
    Forbidden: status.HTTP_403_FORBIDDEN,
    NotFound: status.HTTP_404_NOT_FOUND,
    Conflict: status.HTTP_409_CONFLICT,
    Unprocessable: status.HTTP_422_UNPROCESSABLE_CONTENT,
    TooMany: status.HTTP_429_TOO_MANY_REQUESTS,
}


def status_of(exc: DomainError) -> int:
    """The status of the nearest kind the error is (a subclass answers as its kind); a bare DomainError is a
    request the service refuses without saying more: 400."""
    for kind in type(exc).__mro__:
        if kind in STATUS:
            return STATUS[kind]
    return status.HTTP_400_BAD_REQUEST


def answer(exc: DomainError) -> JSONResponse:
    # A refusal may quote what the client sent (an unknown key that is a lone surrogate): escaped, so the answer
    # can be encoded at all.
    body: dict[str, object] = {"detail": _encodable(exc.message)}
    if exc.itemised:
        body["problems"] = [_encodable(p) for p in exc.problems]
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, TooMany) and exc.retry_after else None
    return JSONResponse(body, status_code=status_of(exc), headers=headers)


def _encodable(text: str) -> str:
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


async def _handle(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)  # registered for DomainError only
    return answer(exc)


MAX_PROBLEMS = 20  # a 1 MiB list of wrong items would otherwise be answered item by item
MAX_TEXT = 200


def printable(text: str, limit: int = MAX_TEXT) -> str:
    """``text`` safe to encode and show: lone surrogates and control characters escaped, long text cut."""
    safe = text.encode("utf-8", "backslashreplace").decode("utf-8")
    safe = "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in safe)
    return safe if len(safe) <= limit else safe[:limit] + "…"


def validation_problems(errors: Sequence[Any]) -> list[dict[str, object]]:
    """FastAPI's error list without ``input`` and ``ctx`` (which quote the request): ``type``, ``loc`` and
    ``msg`` each, in the shape the pages already read (``detail`` a list of ``{loc, msg}``). A key of the
    body's own mappings may sit in ``loc``: it is escaped like any text."""
    out: list[dict[str, object]] = []
    for error in list(errors)[:MAX_PROBLEMS]:
        if not isinstance(error, dict):
            continue
        loc = [part if isinstance(part, int) else printable(str(part), 64) for part in error.get("loc", ())]
        out.append({"type": printable(str(error.get("type", "invalid")), 64), "loc": loc,
                    "msg": printable(str(error.get("msg", "invalid")))})
    if len(errors) > MAX_PROBLEMS:
        out.append({"type": "too_many_errors", "loc": [], "msg": f"and {len(errors) - MAX_PROBLEMS} more"})
    return out


async def _invalid_request(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)  # registered for it only
    return JSONResponse({"detail": validation_problems(exc.errors())},
                        status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)


async def _invalid_socket(websocket: WebSocket, exc: Exception) -> None:
    """A WebSocket's handshake parameters that do not validate: 1008 with a fixed reason (a close reason holds
    123 bytes, and FastAPI's default would put the rejected values there)."""
    await websocket.close(code=status.WS_1008_POLICY_VIOLATION, reason="invalid request")


DB_RETRY_AFTER_SECONDS = 5


async def _database_error(request: Request, exc: Exception) -> Response:
    """The database is down or restarting: 503 with Retry-After (a WebSocket: 1013, try again later) and one log
    line (no traceback, no statement, whose parameters may be a user's data); any other database error stays a
    crash (500, logged as one)."""
    if not unavailable(exc):
        raise exc
    socket = request.scope["type"] == "websocket"  # Starlette hands a WebSocket's handshake errors here too
    log.warning("database unavailable: %s answered %s (%s)", request.url.path, "1013" if socket else "503",
                type(getattr(exc, "orig", None) or exc).__name__)
    if socket:
        await cast(WebSocket, request).close(code=status.WS_1013_TRY_AGAIN_LATER, reason="database unavailable")
        return Response(status_code=status.HTTP_503_SERVICE_UNAVAILABLE)  # not sent: the socket is closed
    return JSONResponse({"detail": "the database is unavailable; try again shortly"},
                        status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
                        headers={"Retry-After": str(DB_RETRY_AFTER_SECONDS)})


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, _handle)
    app.add_exception_handler(DBAPIError, _database_error)  # the database restarting under load: 503, not 500
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(WebSocketRequestValidationError, _invalid_socket)
