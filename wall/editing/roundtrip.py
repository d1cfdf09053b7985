"""YAML files edited in place: the site's own comments, anchors, quoting and layout survive an edit from the UI.

The admin console changes cameras.yaml and analytics.yaml, files that people also edit by hand and annotate
("# top-down cars look like phones to a COCO model"). Writing them from a ``dict`` would throw every such note
away, so edits go through ruamel.yaml's round-trip mode: a value that did not change keeps its node (and so its
comment and spelling: ``0.40`` stays ``0.40``), a key that went back to its default is removed, a new key is
inserted where the model declares it.

ruamel attaches a full-line comment to the end of the *preceding* node. Inserting or deleting a key or list
item next to it would move the comment onto the wrong thing (a note about the next camera ending up inside this
one), so :func:`insert_key`, :func:`delete_key` and :func:`delete_item` hand such trailing comment lines over to
the node that now precedes them.

Files are replaced atomically (temporary file, fsync, rename): a crash mid-write leaves the old file, never half
of a new one, and ``citywall serve`` never reads a torn file.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import itertools
import os
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq, merge_attrib
from ruamel.yaml.error import CommentMark
from ruamel.yaml.scalarstring import DoubleQuotedScalarString
from ruamel.yaml.tokens import CommentToken

from settings.yaml_reader import reads_as_text
from wall.errors import Conflict

# One edit of a configuration file at a time: read-modify-write must not interleave between two admins' saves.
EDIT_LOCK = threading.Lock()
LOCK_FILE = ".citywall-edit.lock"
EDIT_LOCK_TIMEOUT = 10.0


@contextlib.contextmanager
def edit_lock(directory: Path, timeout: float = EDIT_LOCK_TIMEOUT) -> Iterator[None]:
    """Hold the right to edit ``directory``'s files: this process' lock, then an exclusive ``flock`` on a lock
    file in the directory itself. Why both: control-plane replicas of a cluster (and ``citywall`` commands run
    beside ``serve``) share one configuration directory, and two of them saving at the same moment would each
    read the file, change it and write it back — the later write silently dropping the earlier change. Waits up
    to ``timeout`` seconds for another process' save, then refuses (409) rather than keep an admin's request
    hanging."""
    with EDIT_LOCK, open(directory / LOCK_FILE, "a+b") as handle:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise Conflict(f"{directory}: another save of this configuration is in progress "
                                   f"(another replica or command holds {LOCK_FILE}); try again") from None
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

_DASH = re.compile(r"^( *)- ")
_KEY_BLOCK = re.compile(r"^( *)[^\s#-][^#]*:\s*(#.*)?$")


def make_yaml(text: str = "") -> YAML:
    """A round-trip YAML object whose indentation follows ``text`` (the style of the file being edited)."""
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096  # never fold a long line (a URL, a polygon) that the file had on one line
    yaml.allow_unicode = True
    mapping, sequence, offset = detect_indent(text)
    yaml.indent(mapping=mapping, sequence=sequence, offset=offset)
    return yaml


def detect_indent(text: str) -> tuple[int, int, int]:
    """(mapping, sequence, offset) indentation as ruamel names them, guessed from the first block list and the
    first nested key of ``text``; (2, 4, 2) — this project's own style — when the text shows neither."""
    lines = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    mapping, offset = None, None
    for prev, line in itertools.pairwise(lines):
        key, dash = _KEY_BLOCK.match(prev), _DASH.match(line)
        if not key:
            continue
        outer, inner = len(key.group(1)), len(line) - len(line.lstrip(" "))
        if dash and offset is None:
            offset = max(0, len(dash.group(1)) - outer)
        elif not dash and mapping is None and inner > outer:
            mapping = inner - outer
        if mapping is not None and offset is not None:
            break
    mapping = 2 if mapping is None else mapping
    offset = 2 if offset is None else offset
    return mapping, offset + 2, offset


def load(path: Path) -> tuple[YAML, Any, str]:
    """(yaml, document, text) of ``path``; an empty document for a missing or empty file."""
    text = path.read_text(encoding="utf-8-sig") if path.exists() else ""
    yaml = make_yaml(text)
    doc = yaml.load(text) if text.strip() else None
    return yaml, doc, text


def dump(yaml: YAML, doc: Any) -> str:
    out = io.StringIO()
    yaml.dump(doc, out)
    return out.getvalue()


def write_atomic(path: Path, text: str) -> None:
    """Replace ``path`` by ``text`` in one step (same directory, fsync, rename), keeping the file's mode."""
    mode = path.stat().st_mode & 0o7777 if path.exists() else None
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


# -- plain values and new nodes ------------------------------------------------------------------------------


def plain(node: Any) -> Any:
    """A round-trip node as plain Python (for comparing with what the model says)."""
    if isinstance(node, dict):
        return {str(k): plain(v) for k, v in node.items()}
    if isinstance(node, list | tuple):
        return [plain(v) for v in node]
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, int | float):
        return float(node) if isinstance(node, float) else int(node)
    return str(node)


def same(node: Any, value: Any) -> bool:
    """Whether the file already says ``value`` (numbers compare by value: 0.40 is 0.4, 3 is 3.0)."""
    return _norm(plain(node)) == _norm(value)


def _norm(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _norm(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_norm(v) for v in value]
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return value


def _flat(value: Any) -> bool:
    """Short enough for one line: scalars, lists of those (or of short lists), mappings of scalars and lists."""
    if isinstance(value, dict):
        return all(not isinstance(v, dict) and _flat(v) and not _nested_list(v) for v in value.values())
    if isinstance(value, list):
        return all(not isinstance(v, dict) or _flat(v) for v in value) and not any(
            isinstance(v, list) and _nested_list(v) for v in value)
    return True


def _nested_list(value: Any) -> bool:
    return isinstance(value, list) and any(isinstance(v, list | dict) for v in value)


def to_node(value: Any, *, block: bool = False) -> Any:
    """A new node for ``value``: polygons, schedules, small mappings on one line (flow style) as people write
    them; ``block`` for an entry of its own (a camera, a zone)."""
    if isinstance(value, dict):
        node = CommentedMap()
        for k, v in value.items():
            node[to_node(k) if isinstance(k, str) else k] = to_node(v)
        if not block and _flat(value):
            node.fa.set_flow_style()
        else:
            node.fa.set_block_style()
        return node
    if isinstance(value, list | tuple):
        seq = CommentedSeq([to_node(v) for v in value])
        if not block and _flat(list(value)):
            seq.fa.set_flow_style()
        else:
            seq.fa.set_block_style()
        return seq
    if isinstance(value, str) and _needs_quotes(value):
        return DoubleQuotedScalarString(value)
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return int(value)  # 30, not 30.0: as a person writes seconds (the models take either)
    return value


def _needs_quotes(text: str) -> bool:
    """Whether the site loader (YAML 1.1) would read ``text`` unquoted as something else than a string: the
    round-trip writer keeps to YAML 1.2 (a ``%YAML 1.1`` line would appear in every file it touches), where
    ``20:00``, ``0501`` or ``on`` are text, but to the loader they are numbers and booleans."""
    if _NUMBERISH.match(text):
        return True  # 06:00 is text to both, but "07:00" next to "20:00" reads as what it is: a time
    return not reads_as_text(text)


_NUMBERISH = re.compile(r"^[0-9][0-9:._-]*$")


# -- comments that trail a node --------------------------------------------------------------------------------


def _own_keys(node: CommentedMap) -> list[Any]:
    """The keys written in this mapping, not those merged in from an anchor ('<<: *x')."""
    return [k for k, _v in node.non_merged_items()]


def _is_block(value: Any) -> bool:
    return isinstance(value, CommentedMap | CommentedSeq) and len(value) > 0 and not value.fa.flow_style()


def _tail(parent: CommentedMap | CommentedSeq, key: Any) -> tuple[dict[Any, Any], Any, int]:
    """Where ruamel keeps the comment after ``parent[key]``: on the deepest last node of a block value."""
    value = parent[key]
    if _is_block(value):
        if isinstance(value, CommentedSeq):
            return _tail(value, len(value) - 1)
        keys = _own_keys(value)
        if keys:
            return _tail(value, keys[-1])
    return parent.ca.items, key, 0 if isinstance(parent, CommentedSeq) else 2


def _take_lines(ref: tuple[dict[Any, Any], Any, int]) -> str:
    """Cut the full comment lines (and blank lines) after a node's own end-of-line comment; return them."""
    items, key, index = ref
    entry = items.get(key)
    if not entry or len(entry) <= index or entry[index] is None:
        return ""
    token = entry[index]
    value: str = token.value
    cut = value.find("\n")
    if cut < 0 or cut == len(value) - 1:
        return ""
    eol, rest = value[: cut + 1], value[cut + 1:]
    if eol.strip():
        token.value = eol
    else:
        entry[index] = None
    return rest


def _give_lines(ref: tuple[dict[Any, Any], Any, int], lines: str) -> None:
    if not lines:
        return
    items, key, index = ref
    entry = items.setdefault(key, [None, None, None, None])
    while len(entry) <= index:
        entry.append(None)
    token = entry[index]
    if token is None:
        entry[index] = CommentToken("\n" + lines, CommentMark(0), None)
    else:
        token.value = token.value + lines


def insert_key(node: CommentedMap, key: str, value: Any, order: Sequence[str]) -> None:
    """Add ``key`` after the last key that ``order`` (the model's field order) puts before it; comment lines that
    followed that key (and so introduced what comes next) move past the new key."""
    keys = _own_keys(node)
    rank = {k: i for i, k in enumerate(order)}
    mine = rank.get(key, len(order))
    earlier = [i for i, existing in enumerate(keys) if rank.get(existing, len(order)) < mine]
    pos = earlier[-1] + 1 if earlier else (0 if keys and mine < len(order) else len(keys))
    lines = _take_lines(_tail(node, keys[pos - 1])) if pos > 0 else ""
    merge = getattr(node, merge_attrib, None)  # ruamel counts a '<<: *anchor' entry before pos as a position
    merge_pos = getattr(merge, "merge_pos", -1) if merge else -1
    node.insert(pos + 1 if 0 <= merge_pos < pos else pos, key, value)
    _give_lines(_tail(node, key), lines)


def replace_value(node: CommentedMap | CommentedSeq, key: Any, value: Any) -> None:
    """Set a new value; the comment lines that trailed the old one (they introduce what follows) stay."""
    lines = _take_lines(_tail(node, key)) if _is_block(node[key]) or _is_block(value) else ""
    node[key] = value
    if lines:
        _give_lines(_tail(node, key), lines)


def delete_key(node: CommentedMap, key: str) -> None:
    keys = _own_keys(node)
    if key not in keys:
        return
    pos = keys.index(key)
    lines = _take_lines(_tail(node, key))
    del node[key]
    if pos > 0:
        _give_lines(_tail(node, keys[pos - 1]), lines)


def delete_item(seq: CommentedSeq, index: int) -> None:
    lines = _take_lines(_tail(seq, index))
    del seq[index]
    if index > 0:
        _give_lines(_tail(seq, index - 1), lines)


def append_item(seq: CommentedSeq, value: Any) -> None:
    lines = _take_lines(_tail(seq, len(seq) - 1)) if len(seq) else ""
    seq.append(value)
    _give_lines(_tail(seq, len(seq) - 1), lines)


# -- merging a model's new state into a node -------------------------------------------------------------------


def merge_mapping(node: CommentedMap, full: dict[str, Any], minimal: dict[str, Any], order: Sequence[str],
                  nested: Callable[[str], tuple[Sequence[str], str | None]] | None = None) -> None:
    """Make ``node`` say what ``full`` says, touching only what changed.

    ``full`` is the complete new state (every field), ``minimal`` the same without defaults. A key the file has:
    kept as it is when unchanged, removed when it went back to its default, else merged (mappings, lists keyed by
    id) or replaced. A key the file lacks: added only when not a default. ``nested(key)`` gives a nested
    mapping's field order and, for a list of mappings matched by a key (zones by ``id``), that key.
    """
    nested = nested or (lambda _key: ((), None))
    for key in _own_keys(node):
        if key not in full:
            continue  # not a field of the model (cannot pass validation anyway): leave it to the checks
        new = full[key]
        if same(node[key], new):
            continue
        if key not in minimal:
            delete_key(node, key)
            continue
        sub_order, match = nested(key)
        current = node[key]
        if isinstance(current, CommentedMap) and isinstance(new, dict) and not current.fa.flow_style():
            merge_mapping(current, new, minimal[key], sub_order, nested)
        elif isinstance(current, CommentedSeq) and match and isinstance(new, list):
            merge_list(current, new, minimal[key], match, sub_order, nested)
        else:
            replace_value(node, key, to_node(new if isinstance(new, dict) else minimal[key]))
    for key in order:
        if key in minimal and key not in _own_keys(node):
            if key in node and same(node[key], full[key]):
                continue  # merged in from an anchor ('<<: *street') with this very value: stays inherited
            listed = nested(key)[1] is not None  # a list of entries (zones): one block per entry
            value = full[key] if isinstance(full[key], dict) else minimal[key]  # small mappings in full
            insert_key(node, key, to_node(value, block=listed), order)


def merge_list(seq: CommentedSeq, full: list[dict[str, Any]], minimal: list[dict[str, Any]], match: str,
               order: Sequence[str], nested: Callable[[str], tuple[Sequence[str], str | None]]) -> None:
    """A list of mappings identified by ``match`` (zones by id): removed ones go, kept ones are merged in place
    (their comments stay), new ones are appended; the new order is applied by moving items only when needed."""
    wanted = [item[match] for item in full]
    for i in range(len(seq) - 1, -1, -1):
        if not isinstance(seq[i], dict) or seq[i].get(match) not in wanted:
            delete_item(seq, i)
    for position, (item_full, item_min) in enumerate(zip(full, minimal, strict=True)):
        ids = [str(item.get(match)) for item in seq]
        key = str(item_full[match])
        if key not in ids:
            node = to_node(item_min, block=True)
            if position >= len(seq):
                append_item(seq, node)
            else:
                seq.insert(position, node)
            continue
        index = ids.index(key)
        if index != position:
            seq.insert(position, seq.pop(index))
        merge_mapping(seq[position], item_full, item_min, order, nested)
