"""The one error the account logic raises; the API turns ``status`` into the HTTP status, the CLI into a line."""

from __future__ import annotations


class AccessError(Exception):
    """An account, group or grant operation that cannot be done, with a message fit to show the admin."""

    def __init__(self, message: str, status: int = 400, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status  # 400 invalid, 404 no such thing, 409 conflict
        self.problems = problems or [message]
