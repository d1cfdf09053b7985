"""``${NAME}`` and ``${NAME:-default}`` references in settings values, resolved from the environment.

Camera passwords and tokens stay out of the files (and out of version control): a file says
``rtsp://admin:${CITYWALL_CAM_PASSWORD}@…`` and the service reads the password from its environment.

``prefix``: only variables whose name starts with it may be used; any other reference is a problem, not an
expansion. The files the admin console writes (cameras.yaml, analytics.yaml) are read this way: a URL or a
zone name typed in the console must not become a way to read the server's environment (``${HOME}``,
``${DB_PASSWORD}``) back through a probe, a stream's connection or a name on the wall.
"""

from __future__ import annotations

import os
import re
from typing import Any

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_ANY_REF = re.compile(r"\$\{[^}]{0,40}\}?")

Problems = list[tuple[tuple[Any, ...], str]]


def substitute_env(node: Any, loc: tuple[Any, ...], problems: Problems, prefix: str | None = None) -> Any:
    """``node`` (plain YAML data) with every reference in its strings resolved; each reference that cannot be
    resolved, is malformed or (with ``prefix``) names a variable outside it is added to ``problems`` as (key
    location, reason) and left empty."""
    if isinstance(node, dict):
        return {k: substitute_env(v, (*loc, k), problems, prefix) for k, v in node.items()}
    if isinstance(node, list):
        return [substitute_env(v, (*loc, i), problems, prefix) for i, v in enumerate(node)]
    if isinstance(node, str) and "${" in node:
        for start in (m.start() for m in re.finditer(r"\$\{", node)):
            if not _ENV_REF.match(node, start):
                found = _ANY_REF.match(node, start)
                assert found is not None  # it matches any '${'
                ref = found.group(0)
                problems.append((loc, f"'{ref}' is not a ${{NAME}} or ${{NAME:-default}} reference"))

        def replace(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if prefix is not None and not name.startswith(prefix):
                problems.append((loc, f"'${{{name}}}' may not be used here: only variables named {prefix}…"))
                return ""
            value = os.environ.get(name)
            if default is not None and not value:
                return default  # as in a shell: ':-' stands in for a variable that is unset or empty
            if value is None:
                problems.append((loc, f"environment variable '{name}' is not set"))
                return ""
            return value

        return _ENV_REF.sub(replace, node)
    return node
