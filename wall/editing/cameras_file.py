"""One camera's entry in ``cameras.yaml``: read (URLs withheld), checked, written back with comments kept.

A camera URL carries the credentials of the police video network, so it is write-only here: :func:`read_cameras`
says only whether one is set, and an edit that leaves the URL out keeps the file's own value untouched — a
``${CITYWALL_CAM_PASSWORD}`` reference stays a reference. A URL typed in the console is written as typed
(references included) and checked with the variables resolved, as ``citywall serve`` will read it — which is
only the site's own ``server.camera_env_prefix`` variables: a typed ``${HOME}`` or ``${DB_PASSWORD}`` is
refused, never expanded (the URL would carry the server's environment to whatever host it names).

The ``ptz`` block's ONVIF password is handled the same way (``password_set``; kept when left out) and must be a
``${…}`` reference when given.

A ``file:`` source set from the console must lie inside the configuration directory: an admin session must not
become a way to make the server open (and tell about) any file on the machine.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from settings.env import Problems, substitute_env
from settings.errors import ConfigError
from settings.loading import validate
from settings.yaml_reader import read_yaml
from streams.config import CameraConfig
from streams.source import file_path, is_file_url
from wall.config import CAMERAS_FILE, CamerasFile, SiteConfig, load_config
from wall.editing import roundtrip
from wall.editing.checks import check_model, entry_prefix, relative, without_urls
from wall.errors import Conflict, Unprocessable

CAMERA_ORDER = list(CameraConfig.model_fields)
URL_KEYS = ("url", "main_url")
EDITABLE = tuple(k for k in CAMERA_ORDER if k != "id")


class CameraMissing(Exception):
    """No camera with this id in cameras.yaml."""


@dataclass
class CameraProposal:
    """A checked change of one camera: ``raw`` is what goes into the file (references unresolved), ``camera``
    the checked model (references resolved, ``file:`` paths still as written)."""

    camera_id: str
    raw: dict[str, Any]
    camera: CameraConfig
    create: bool
    url_changed: bool
    changed: list[str]  # the keys whose value in the file changes (names only: for the audit log)


def _entries(directory: Path) -> list[dict[str, Any]]:
    path = directory / CAMERAS_FILE
    data = read_yaml(path, str(path))
    cameras = data.get("cameras") if isinstance(data, dict) else None
    return [c for c in cameras if isinstance(c, dict)] if isinstance(cameras, list) else []


def read_cameras(directory: Path, env_prefix: str) -> list[dict[str, Any]]:
    """Every camera of the file (disabled ones too) with its ``${ENV}`` references resolved, each URL replaced
    by whether it is set. Raises ConfigError when the file does not load (edited by hand since the start)."""
    path = directory / CAMERAS_FILE
    validate(CamerasFile, read_yaml(path, str(path)), str(path), {}, frozenset({"grid_code"}), env_prefix)
    out = []
    for entry in _entries(directory):
        shown = {k: v for k, v in resolve_references(entry, env_prefix=env_prefix).items() if k not in URL_KEYS}
        for key in URL_KEYS:
            shown[f"{key}_set"] = bool(entry.get(key))
        ptz = shown.get("ptz")
        if isinstance(ptz, dict):  # the ONVIF password is write-only too: only whether one is set
            shown["ptz"] = {k: v for k, v in ptz.items() if k != "password"} | {"password_set": bool(ptz.get(
                "password"))}
        out.append(shown)
    return out


def _ptz_from(body: Any, old: Any) -> Any:
    """The ``ptz`` block an edit writes: its password is write-only — left out (or empty), the file's own value
    (a reference) stays; given, it must be a ``${…}`` reference, never the password itself, which would then sit
    in cameras.yaml (and its backups) in clear."""
    if not isinstance(body, dict):
        return body
    block = {k: v for k, v in body.items() if k != "password_set"}
    password = block.get("password")
    if password in (None, ""):
        block.pop("password", None)
        if isinstance(old, dict) and old.get("password"):
            block["password"] = old["password"]
    elif not (isinstance(password, str) and password.startswith("${") and password.endswith("}")):
        raise Unprocessable.of(["ptz.password: write a ${CITYWALL_CAM_…} reference to the environment, not the "
                                "password itself"])
    return block


def _old_entry(directory: Path, camera_id: str) -> dict[str, Any] | None:
    for entry in _entries(directory):
        if entry.get("id") == camera_id:
            return entry
    return None


def resolve_references(value: Any, key: str | None = None, *, env_prefix: str) -> Any:
    """``value`` with its ``${ENV}`` references resolved (only variables named ``env_prefix``…). With ``key``,
    a reference that cannot be resolved or is not allowed is refused as ``key: reason``; without, it is left
    empty (the schema checks report it)."""
    found: Problems = []
    resolved = substitute_env(value, (), found, env_prefix)
    if key is not None and found:
        raise Unprocessable.of([f"{key}: {why}" for _loc, why in found])
    return resolved


def check_file_source(directory: Path, key: str, url: str) -> None:
    if not is_file_url(url):
        return
    path = file_path(url)
    full = (path if path.is_absolute() else directory / path).resolve()
    if not full.is_relative_to(directory.resolve()):
        raise Unprocessable.of([f"{key}: a file: source set here must be inside the configuration directory"])
    if not full.is_file():
        raise Unprocessable.of([f"{key}: file '{path}' does not exist in the configuration directory"])


def propose(directory: Path, camera_id: str, body: dict[str, Any], *, create: bool,
            grid_code_length: int, env_prefix: str) -> CameraProposal:
    """Check a new camera or an edit: unknown keys, the schema, URLs (``file:`` inside the directory). A key
    that is absent keeps the file's value; ``null`` removes an optional one; an absent or empty URL keeps the
    file's URL (``main_url: null`` removes the main stream)."""
    old = _old_entry(directory, camera_id)
    if create and old is not None:
        raise Conflict.of([f"id: a camera '{camera_id}' exists already"])
    if not create and old is None:
        raise CameraMissing(camera_id)
    unknown = [k for k in body if k not in EDITABLE]
    if unknown:
        raise Unprocessable.of([f"{k}: unknown key" if k != "id" else "id: is set by the path" for k in unknown])
    raw: dict[str, Any] = dict(old or {})
    raw["id"] = camera_id
    old_resolved = resolve_references(dict(old or {}), env_prefix=env_prefix)
    for key, value in body.items():
        if key == "ptz":
            value = _ptz_from(value, (old or {}).get("ptz"))
        if key in URL_KEYS and (value == "" or (value is None and key == "url")):
            continue  # URLs are write-only: an empty field keeps the file's (null removes a main stream)
        if key not in URL_KEYS and old is not None and old_resolved.get(key) == value:
            continue  # unchanged: keep the file's own spelling (a ${REF} stays a reference)
        if value is None or value == "":
            raw.pop(key, None)
        else:
            raw[key] = value
    camera = check_model(CameraConfig, raw, {"grid_code_length": grid_code_length}, env_prefix=env_prefix)
    changed = create or any(raw.get(k) != (old or {}).get(k) for k in URL_KEYS)
    for key in URL_KEYS:
        value = getattr(camera, key)
        if value and raw.get(key) != (old or {}).get(key):
            check_file_source(directory, key, value)
    keys = sorted(k for k in set(raw) | set(old or {}) if k != "id" and raw.get(k) != (old or {}).get(k))
    return CameraProposal(camera_id, raw, camera, create, bool(changed), keys)


def resolved_url(directory: Path, url: str) -> str:
    """A URL as the hub opens it: a relative ``file:`` path against the configuration directory."""
    if is_file_url(url):
        path = file_path(url)
        return f"file:{path if path.is_absolute() else (directory / path).resolve()}"
    return url


def _merge(doc: Any, proposal: CameraProposal) -> int:
    """Put the proposal into the document; returns the camera's index in the list."""
    if not isinstance(doc, CommentedMap) or not isinstance(doc.get("cameras"), CommentedSeq):
        raise Conflict.of([f"{CAMERAS_FILE}: (top level): expected a 'cameras:' list"])
    cameras: CommentedSeq = doc["cameras"]
    full = {k: proposal.raw.get(k) for k in CAMERA_ORDER}
    defaults = {k: f.default for k, f in CameraConfig.model_fields.items()}
    minimal = {k: v for k, v in full.items() if v is not None and not roundtrip.same(v, defaults.get(k))}
    minimal["id"] = proposal.camera_id
    for index, entry in enumerate(cameras):
        if isinstance(entry, CommentedMap) and entry.get("id") == proposal.camera_id:
            if entry.fa.flow_style():
                replacement = roundtrip.to_node({k: v for k, v in full.items() if k in minimal or k in entry})
                replacement.fa.set_flow_style()
                roundtrip.replace_value(cameras, index, replacement)
            else:
                roundtrip.merge_mapping(entry, full, minimal, CAMERA_ORDER)
            return index
    roundtrip.append_item(cameras, roundtrip.to_node(minimal, block=True))
    return len(cameras) - 1


def save_camera(directory: Path, proposal: CameraProposal) -> tuple[CameraConfig, SiteConfig]:
    """Write the proposal into cameras.yaml and load the directory as ``serve`` would (duplicate national ids,
    missing files, walls and rules naming cameras…); on any problem the old file is put back and the save is
    refused. Returns the camera as the service will run it (references resolved, paths absolute)."""
    path = directory / CAMERAS_FILE
    with roundtrip.edit_lock(directory):
        try:
            yaml, doc, before = roundtrip.load(path)
        except Exception as exc:  # ruamel's own parse errors (a hand edit broke the file)
            raise Conflict.of([without_urls(f"{path}: cannot be read for editing: {str(exc).splitlines()[0]}")]
                              ) from None
        index = _merge(doc, proposal)
        roundtrip.write_atomic(path, roundtrip.dump(yaml, doc))
        try:
            site = load_config(directory)
        except ConfigError as exc:
            roundtrip.write_atomic(path, before)
            lines = relative(exc.problems, entry_prefix(str(path), "cameras", index))
            raise Unprocessable.of([without_urls(line) for line in lines]) from None
    camera = next(c for c in site.cameras if c.id == proposal.camera_id)
    return camera, site
