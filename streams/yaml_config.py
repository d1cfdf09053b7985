"""YAML settings files read the same way everywhere: every problem as one ``file: key.path: reason`` line.

Shared by the site configuration (``wall.config``), model cards (``vision.card``) and rule files, which is why it
lives in the lowest layer. Duplicate keys are errors (PyYAML silently keeps the last), ``${ENV}`` references
are substituted (camera passwords stay out of files), and no message ever repeats a credential it read.
"""

from __future__ import annotations

import os
import re
from collections.abc import Hashable
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from streams.secrets import redact

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_MERGE_TAG = "tag:yaml.org,2002:merge"
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


class UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML keeps the last of two equal keys; in a config that hides a mistake, so it is an error here."""


def _construct_mapping(loader: UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: dict[Any, yaml.Node] = {}
    for key_node, _value in node.value:
        if key_node.tag == _MERGE_TAG:
            continue  # '<<: *anchor' is YAML's merge; keys written beside it override the merged ones
        key = loader.construct_object(key_node, deep=deep)  # type: ignore[no-untyped-call]
        if not isinstance(key, Hashable):
            continue  # construct_mapping below reports it as "found unhashable key", with its line
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key '{key}' (first at line {seen[key].start_mark.line + 1})",
                key_node.start_mark,
            )
        seen[key] = key_node
    return loader.construct_mapping(node, deep=deep)


UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


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


def reason(error: dict[str, Any]) -> str:
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


def read_yaml(path: Path, shown: str) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError([f"{shown}: not UTF-8 text ({exc.reason})"]) from exc
    except OSError as exc:
        raise ConfigError([f"{shown}: cannot read: {exc.strerror}"]) from exc
    try:
        return yaml.load(text, Loader=UniqueKeyLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        raise ConfigError([f"{shown}{where}: invalid YAML: {exc.problem or exc}"]) from exc
    except yaml.YAMLError as exc:
        raise ConfigError([f"{shown}: invalid YAML: {exc}"]) from exc


def substitute_env(node: Any, loc: tuple[Any, ...], problems: list[tuple[tuple[Any, ...], str]]) -> Any:
    if isinstance(node, dict):
        return {k: substitute_env(v, (*loc, k), problems) for k, v in node.items()}
    if isinstance(node, list):
        return [substitute_env(v, (*loc, i), problems) for i, v in enumerate(node)]
    if isinstance(node, str) and "${" in node:
        for start in (m.start() for m in re.finditer(r"\$\{", node)):
            if not _ENV_REF.match(node, start):
                ref = re.match(r"\$\{[^}]{0,40}\}?", node[start:]).group(0)  # type: ignore[union-attr]
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


def validate(
    model: type[BaseModel],
    data: Any,
    shown: str,
    context: dict[str, Any],
    unchecked: frozenset[str] = frozenset(),
) -> Any:
    """Validate one file's data; ``unchecked`` names keys whose schema errors are not reported this time."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError([f"{shown}: (top level): must be a mapping of keys, got {type(data).__name__}"])
    env_problems: list[tuple[tuple[Any, ...], str]] = []
    data = substitute_env(data, (), env_problems)
    problems = [f"{shown}: {key_path(loc)}: {why}" for loc, why in env_problems]
    try:
        result = model.model_validate(data, context=context)
    except ValidationError as exc:
        # A value whose reference could not be resolved was blanked: what the schema then says of it is noise.
        blanked = {loc for loc, _ in env_problems}
        problems += [
            f"{shown}: {key_path(tuple(e['loc']))}: {reason(e)}"  # type: ignore[arg-type]
            for e in exc.errors()
            if tuple(e["loc"]) not in blanked and not (e["loc"] and e["loc"][-1] in unchecked)
        ]
    if problems:
        # 'from None': a chained ValidationError would print every input value, camera passwords included.
        raise ConfigError(problems) from None
    return result
