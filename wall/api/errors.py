"""Domain errors → HTTP answers, in one place: the routes let ``wall.errors`` kinds through and this handler
gives each its status and the one body shape, ``{"detail": message}`` (plus ``problems`` when the refusal was
given as a list of them, as the editor's and the password policy's are)."""

from __future__ import annotations

from fastapi import FastAPI, Request, status
from fastapi.responses import JSONResponse

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
    body: dict[str, object] = {"detail": exc.message}
    if exc.itemised:
        body["problems"] = exc.problems
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, TooMany) and exc.retry_after else None
    return JSONResponse(body, status_code=status_of(exc), headers=headers)


async def _handle(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)  # registered for DomainError only
    return answer(exc)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, _handle)
