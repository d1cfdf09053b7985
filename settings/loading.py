"""One settings file's data checked against its model, every problem as a ``file: key.path: reason`` line."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from settings.env import Problems, substitute_env
from settings.errors import ConfigError, key_path, reason
from settings.yaml_reader import read_yaml

Model = TypeVar("Model", bound=BaseModel)


def validate(
    model: type[Model],
    data: Any,
    shown: str,
    context: dict[str, Any],
    unchecked: frozenset[str] = frozenset(),
    env_prefix: str | None = None,
) -> Model:
    """Validate one file's data (``${ENV}`` references resolved first, with ``env_prefix`` only variables
    named so); ``unchecked`` names keys whose schema errors are not reported this time. Raises
    :class:`ConfigError` with every problem."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError([f"{shown}: (top level): must be a mapping of keys, got {type(data).__name__}"])
    env_problems: Problems = []
    data = substitute_env(data, (), env_problems, env_prefix)
    problems = [f"{shown}: {key_path(loc)}: {why}" for loc, why in env_problems]
    try:
        result = model.model_validate(data, context=context)
    except ValidationError as exc:
        # A value whose reference could not be resolved was blanked: what the schema then says of it is noise.
        blanked = {loc for loc, _ in env_problems}
        problems += [
            f"{shown}: {key_path(tuple(e['loc']))}: {reason(e)}"
            for e in exc.errors()
            if tuple(e["loc"]) not in blanked and not (e["loc"] and e["loc"][-1] in unchecked)
        ]
    if problems:
        # 'from None': a chained ValidationError would print every input value, camera passwords included.
        raise ConfigError(problems) from None
    return result


def load_model_file(path: str | Path, model: type[Model], context: dict[str, Any] | None = None) -> Model:
    """Read one YAML file into ``model`` with the same error lines as the site config (camera rules, say)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError([f"{path}: missing"])
    return validate(model, read_yaml(path, str(path)), str(path), context or {})
