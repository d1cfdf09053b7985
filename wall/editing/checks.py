"""A value proposed in the admin console → its model, or every problem as ``key.path: reason``.

The same models and the same wording as the YAML loader (``settings``), so that what the console
refuses reads exactly like what ``citywall serve`` would have printed for the file, minus the file name: the
key path is relative to what the console sent (``zones[1].polygon: polygon has no area``).
"""

from __future__ import annotations

import re
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from settings.env import Problems, substitute_env
from settings.errors import key_path, reason
from vision.catalogue import Catalogue
from vision.rules_config import CameraRules
from wall.errors import Unprocessable

Model = TypeVar("Model", bound=BaseModel)

MAX_ZONES = 50  # a camera's picture has room for a handful; a longer list is a mistake or an attack
MAX_POINTS = 100


def check_model(model: type[Model], data: Any, context: dict[str, Any] | None = None,
                *, env_prefix: str | None = None) -> Model:
    """Validate ``data`` as ``model``; with ``env_prefix``, ``${ENV}`` references to variables named so are
    resolved first, and any other reference refused (as the loader reads cameras.yaml). Raises
    :class:`Unprocessable` with every problem."""
    if not isinstance(data, dict):
        raise Unprocessable.of(["(top level): must be a mapping of keys"])
    problems: list[str] = []
    if env_prefix is not None:
        found: Problems = []
        data = substitute_env(data, (), found, env_prefix)
        problems += [f"{key_path(loc)}: {why}" for loc, why in found]
    try:
        result = model.model_validate(data, context=context or {})
    except ValidationError as exc:
        problems += [f"{key_path(tuple(e['loc']))}: {reason(e)}" for e in exc.errors()]
        raise Unprocessable.of(problems) from None  # no chained error: it would repeat every input value
    if problems:
        raise Unprocessable.of(problems)
    return result


def check_rules(data: Any, catalogue: Catalogue) -> CameraRules:
    """One camera's rules as the zone editor sends them: the schema of analytics.yaml, sizes kept sane, each
    zone's event code from the site's catalogue and of the zone's family."""
    if isinstance(data, dict):
        zones = data.get("zones")
        if isinstance(zones, list):
            if len(zones) > MAX_ZONES:
                raise Unprocessable.of([f"zones: at most {MAX_ZONES} zones per camera"])
            for i, zone in enumerate(zones):
                polygon = zone.get("polygon") if isinstance(zone, dict) else None
                if isinstance(polygon, list) and len(polygon) > MAX_POINTS:
                    raise Unprocessable.of([f"zones[{i}].polygon: at most {MAX_POINTS} points"])
                if isinstance(polygon, list):  # the editor's pixel-derived fractions, to a tidy 4 decimals
                    zone["polygon"] = [[round(v, 4) if isinstance(v, float) else v for v in point]
                                       if isinstance(point, list) else point for point in polygon]
    rules = check_model(CameraRules, data)
    problems = catalogue.zone_problems(rules)
    if problems:
        raise Unprocessable.of(problems)
    return rules


def relative(problems: list[str], prefix: str) -> list[str]:
    """Loader lines about one entry (``FILE: cameras[3].national_id: …``) as keys of that entry
    (``national_id: …``); lines about anything else stay whole."""
    out = []
    for line in problems:
        if line.startswith(prefix + "."):
            out.append(line[len(prefix) + 1:])
        elif line.startswith(prefix + ": "):
            out.append("(top level): " + line[len(prefix) + 2:])
        else:
            out.append(line)
    return out


def entry_prefix(shown: str, collection: str, key: int | str) -> str:
    """How the loader names an entry: ``FILE: cameras[3]`` (a list) or ``FILE: cameras.lobby`` (a mapping)."""
    return f"{shown}: {collection}[{key}]" if isinstance(key, int) else f"{shown}: {collection}.{key}"


_SECRETISH = re.compile(r"[a-z][a-z0-9+.-]*://\S*", re.IGNORECASE)


def without_urls(line: str) -> str:
    """A problem line with any URL in it replaced: the console never echoes a camera URL, not even redacted."""
    return _SECRETISH.sub("<camera url>", line)
