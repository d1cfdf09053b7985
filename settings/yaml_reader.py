"""Settings files read the same way everywhere: ruamel.yaml with YAML 1.1 meaning, duplicate keys refused.

One YAML library serves both sides: this module reads, ``wall.editing.roundtrip`` writes (ruamel's round-trip
mode, keeping comments). Reading uses YAML 1.1 as sites' files were written for it (PyYAML read them until now):
``on``/``yes`` are booleans, ``0501`` is an octal number and ``20:00`` the base-60 number 1200; so a string
that means something else unquoted must be quoted, and :func:`reads_as_text` tells the writer which.

A key written twice is an error naming both lines (quietly keeping the last would hide a mistake), and no
message repeats a value it read: a file's values may be camera credentials.
"""

from __future__ import annotations

import re
from collections.abc import Hashable
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.constructor import ConstructorError, SafeConstructor
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, ScalarNode
from ruamel.yaml.resolver import VersionedResolver, implicit_resolvers

from settings.errors import ConfigError

YAML_VERSION = (1, 1)
_MERGE_TAG = "tag:yaml.org,2002:merge"
_STR_TAG = "tag:yaml.org,2002:str"
# Where ruamel's YAML 1.1 reads more than the files' readers so far did: single letters as booleans (a camera
# 'n', a key 'y' would become False and True) and floats without a dot or a signed exponent ('1e3').
_AS_READ_BEFORE = {
    "tag:yaml.org,2002:bool": re.compile(
        r"^(?:yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$"
    ),
    "tag:yaml.org,2002:float": re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?
        |\.[0-9_]+(?:[eE][-+][0-9]+)?
        |[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
}


class _Yaml11Resolver(VersionedResolver):
    """ruamel's YAML 1.1 rules for plain scalars, with booleans and floats as the files were read until now."""

    def __init__(self, version: Any = None, loader: Any = None, loadumper: Any = None) -> None:
        super().__init__(version, loader, loadumper)
        for versions, tag, regexp, first in implicit_resolvers:
            if YAML_VERSION in versions:
                self.add_version_implicit_resolver(YAML_VERSION, tag, _AS_READ_BEFORE.get(tag, regexp), first)


class _UniqueKeyConstructor(SafeConstructor):
    """Plain Python data (no tags beyond YAML's own), with every key of a mapping unique; ruamel's own check
    quotes both values (a password, perhaps) and is skipped in a mapping that merges an anchor ('<<: *x')."""

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        if isinstance(node, MappingNode):
            seen: dict[Any, Any] = {}
            for key_node, _value in node.value:
                if key_node.tag == _MERGE_TAG:
                    continue  # '<<: *anchor' is YAML's merge; keys written beside it override the merged ones
                key = self.construct_object(key_node, deep=True)
                if not isinstance(key, Hashable):  # ruamel would turn a list into a tuple: a key nobody meant
                    raise ConstructorError(
                        "while constructing a mapping", node.start_mark, "found unhashable key", key_node.start_mark
                    )
                if key in seen:
                    raise ConstructorError(
                        None, None, f"duplicate key '{key}' (first at line {seen[key].start_mark.line + 1})",
                        key_node.start_mark,
                    )
                seen[key] = key_node
        return super().construct_mapping(node, deep=deep)


def _loader() -> YAML:
    """A new reader per file: a ruamel YAML object keeps the state of the document it is reading."""
    yaml = YAML(typ="safe", pure=True)
    yaml.version = YAML_VERSION
    yaml.Constructor = _UniqueKeyConstructor
    yaml.Resolver = _Yaml11Resolver
    return yaml


_RESOLVER = _loader().resolver  # resolving a plain scalar's type reads no document: one serves every thread


def reads_as_text(plain: str) -> bool:
    """Whether ``plain``, written unquoted, reads back as this very string (``20:00``, ``on`` or ``0501`` do
    not: they are numbers and booleans to YAML 1.1)."""
    return bool(_RESOLVER.resolve(ScalarNode, plain, (True, False)) == _STR_TAG)


def parse_yaml(text: str, shown: str) -> Any:
    """The data of one YAML document; every syntax problem as ``shown:line:column: invalid YAML: …``."""
    try:
        return _loader().load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        raise ConfigError([f"{shown}{where}: invalid YAML: {exc.problem or exc}"]) from None
    except YAMLError as exc:
        raise ConfigError([f"{shown}: invalid YAML: {exc}"]) from None


def read_yaml(path: Path, shown: str) -> Any:
    """The data of the YAML file ``path`` (named ``shown`` in messages); raises :class:`ConfigError`."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError([f"{shown}: not UTF-8 text ({exc.reason})"]) from exc
    except OSError as exc:
        raise ConfigError([f"{shown}: cannot read: {exc.strerror}"]) from exc
    return parse_yaml(text, shown)
