"""Every problem in a settings file as one ``file: key.path: reason`` line, worded the same for every file.

The loaders of cameras, server settings, rules and model cards, and the admin console's checks (which leave out
the file name), all phrase pydantic's errors through :func:`reason` and :func:`key_path`, so that a problem reads
the same wherever it is found. No line ever repeats a credential that was read.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic_core import ErrorDetails

from settings.secrets import redact

_LINE_BREAKING = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _escape(match: re.Match[str]) -> str:
    return match.group().encode("unicode_escape").decode()


class ConfigError(Exception):
    """All problems found in a configuration, one ``file: key: reason`` line each."""

    def __init__(self, problems: list[str]) -> None:
        # A value quoted in a reason may hold a newline or another control character: escape it, so that each
        # problem stays one line (and a terminal shows what is in the file).
        problems = [_LINE_BREAKING.sub(_escape, p) for p in problems]
        super().__init__("\n".join(problems))
        self.problems = problems


def key_path(loc: tuple[Any, ...]) -> str:
    """('cameras', 3, 'url') → 'cameras[3].url'."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def _shown_input(value: Any) -> str:
    """An offending value for a message: containers by kind only and URLs without credentials, because the
    value was read after ``${ENV}`` substitution and may hold a camera password."""
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return redact(repr(value))


def reason(error: ErrorDetails) -> str:
    """One pydantic error as the reason part of a line: short words for the common kinds, the value shown
    (without credentials) where a wrong type is the problem."""
    kind = error["type"]
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "is required"
    msg = str(error["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        msg = msg.removeprefix(prefix)
    if kind.endswith("_type") or kind.endswith("_parsing"):
        msg += f", got {_shown_input(error.get('input'))}"
    return msg
