"""The one error hierarchy of the service's domain code (accounts, cases, walls, the editor).

Domain code says *what* went wrong — a thing that does not exist, a state that forbids the request, a request
that is invalid — and never *how* HTTP says it: ``wall.api.errors`` maps each kind to its status in one
exception handler, and the CLI prints the message. That keeps ``auth/``, ``cases/``, ``walls/`` and
``editing/`` free of web imports, and makes every answer of one kind look the same.
"""

from __future__ import annotations

from typing import Self


class DomainError(Exception):
    """A request the service refuses, with a message fit to show the user who made it.

    ``problems`` are the individual reasons (``key.path: reason`` lines for the editor, password-policy
    reasons for an account); ``message`` is their summary. ``itemised`` says the refusal was given as such a
    list, which the API then answers beside the summary, so that a form can mark each problem."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.problems = problems or [message]
        self.itemised = problems is not None

    @classmethod
    def of(cls, problems: list[str]) -> Self:
        """A refusal made of its problems, summarised as one line (``a; b``)."""
        return cls("; ".join(problems), problems)


class Invalid(DomainError):
    """The request itself is wrong (a bad value, an unknown reference in a body): HTTP 400."""


class NotAuthenticated(DomainError):
    """The credentials do not open an account (wrong name or password, told apart by nothing): HTTP 401."""


class Unprocessable(DomainError):
    """A well-formed proposal that does not validate (the editor's ``key.path: reason`` lines): HTTP 422."""


class NotFound(DomainError):
    """No such thing — or one the user may not see, which must answer exactly alike: HTTP 404."""


class Conflict(DomainError):
    """The current state forbids the request (decided already, name taken, file broken by hand): HTTP 409."""


class Forbidden(DomainError):
    """The user's role or rights do not allow the request (or their account is locked): HTTP 403."""


class TooMany(DomainError):
    """Refused for a while (login throttling): HTTP 429, with when to try again."""

    def __init__(self, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after  # seconds
