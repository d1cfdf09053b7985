"""``${NAME}`` and ``${NAME:-default}`` references in settings values, resolved from the environment.

Camera passwords and tokens stay out of the files (and out of version control): a file says
``rtsp://admin:${CAM_PASSWORD}@…`` and the service reads the password from its environment.
"""

from __future__ import annotations

import os
import re
from typing import Any

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_ANY_REF = re.compile(r"\$\{[^}]{0,40}\}?")

Problems = list[tuple[tuple[Any, ...], str]]


def substitute_env(node: Any, loc: tuple[Any, ...], problems: Problems) -> Any:
    """``node`` (plain YAML data) with every reference in its strings resolved; each reference that cannot be
    resolved or is malformed is added to ``problems`` as (key location, reason) and left empty."""
    if isinstance(node, dict):
        return {k: substitute_env(v, (*loc, k), problems) for k, v in node.items()}
    if isinstance(node, list):
        return [substitute_env(v, (*loc, i), problems) for i, v in enumerate(node)]
    if isinstance(node, str) and "${" in node:
        for start in (m.start() for m in re.finditer(r"\$\{", node)):
            if not _ENV_REF.match(node, start):
                found = _ANY_REF.match(node, start)
                assert found is not None  # it matches any '${'
                ref = found.group(0)
                problems.append((loc, f"'{ref}' is not a ${{NAME}} or ${{NAME:-default}} reference"))

        def replace(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            value = os.environ.get(name)
            if default is not None and not value:
                return default  # as in a shell: ':-' stands in for a variable that is unset or empty
            if value is None:
                problems.append((loc, f"environment variable '{name}' is not set"))
                return ""
            return value

        return _ENV_REF.sub(replace, node)
    return node
