"""One camera's zones and rules in ``analytics.yaml``: read for the zone editor, written back with comments kept.

``analytics.yaml`` stays the one source of truth: the editor reads the camera's rules from the file (not from
memory), writes them into the file's own layout, and only then are they applied to the running analytics. After
writing, the whole configuration directory is loaded the way ``citywall serve`` loads it; if that fails the old
file is put back and the save is refused — a save from the console can never leave a site that will not start.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ruamel.yaml.comments import CommentedMap

from settings.errors import ConfigError
from settings.loading import validate
from settings.yaml_reader import read_yaml
from vision.rules_config import (
    DEFAULT_CODES,
    AnalyticsFile,
    CameraRules,
    Confirm,
    DetectorGateSettings,
    StaticChangeSettings,
    TimeRange,
    ZoneConfig,
)
from wall.config import ANALYTICS_FILE, SiteConfig, load_config
from wall.editing import roundtrip
from wall.editing.checks import entry_prefix, relative
from wall.errors import Conflict, Unprocessable

HEADER = ("Analytics: zones and rules per camera (docs/configuration.md). Written by the admin console's zone\n"
          "editor; edit by hand as well — comments are kept.")
_NESTED: dict[str, tuple[list[str], str | None]] = {
    "zones": (list(ZoneConfig.model_fields), "id"),
    "confirm": (list(Confirm.model_fields), None),
    "static_change": (list(StaticChangeSettings.model_fields), None),
    "detector_gate": (list(DetectorGateSettings.model_fields), None),
    "schedule": (list(TimeRange.model_fields), None),
}
RULES_ORDER = list(CameraRules.model_fields)


def _nested(key: str) -> tuple[list[str], str | None]:
    return _NESTED.get(key, ([], None))


def read_rules(directory: Path, camera_id: str) -> CameraRules:
    """The camera's rules as analytics.yaml has them now (no entry, or no file: no zones). Raises ConfigError
    when the file does not load (edited by hand since the start, say)."""
    path = directory / ANALYTICS_FILE
    if not path.exists():
        return CameraRules()
    analytics: AnalyticsFile = validate(AnalyticsFile, read_yaml(path, str(path)), str(path), {})
    return analytics.cameras.get(camera_id, CameraRules())


def merge_rules(doc: Any, camera_id: str, rules: CameraRules) -> CommentedMap:
    """Put ``rules`` into the analytics document as camera ``camera_id``'s entry (made if missing, removed when
    it says nothing but defaults); everything else in the document is left as it was."""
    if doc is None:
        doc = CommentedMap()
        doc.yaml_set_start_comment(HEADER)
    if not isinstance(doc, CommentedMap):
        raise Conflict.of([f"{ANALYTICS_FILE}: (top level): must be a mapping of keys"])
    cameras = doc.get("cameras")
    if not isinstance(cameras, CommentedMap):
        cameras = CommentedMap()
        if "cameras" in doc:
            roundtrip.replace_value(doc, "cameras", cameras)
        else:
            roundtrip.insert_key(doc, "cameras", cameras, ["model", "cameras"])
    full: dict[str, Any] = rules.model_dump(mode="json")
    minimal: dict[str, Any] = rules.model_dump(mode="json", exclude_defaults=True)
    for zone in minimal.get("zones", []):
        if zone.get("code") == DEFAULT_CODES[zone["family"]]:
            del zone["code"]  # the loader fills in the family's default: a zone that never named it stays so
    entry = cameras.get(camera_id)
    if isinstance(entry, CommentedMap) and not entry.fa.flow_style():
        if minimal:
            roundtrip.merge_mapping(entry, full, minimal, RULES_ORDER, _nested)
        else:
            roundtrip.delete_key(cameras, camera_id)
    elif minimal:
        node = CommentedMap()
        roundtrip.merge_mapping(node, full, minimal, RULES_ORDER, _nested)
        if camera_id in cameras:
            roundtrip.replace_value(cameras, camera_id, node)
        else:
            roundtrip.insert_key(cameras, camera_id, node, [*cameras.keys(), camera_id])
    elif camera_id in cameras:
        roundtrip.delete_key(cameras, camera_id)
    return doc


def save_rules(directory: Path, camera_id: str, rules: CameraRules) -> tuple[CameraRules, SiteConfig]:
    """Write the camera's rules into analytics.yaml (created if missing) and load the directory as ``serve``
    would; returns the rules as loaded back and the loaded site. Unprocessable (file unchanged) when the directory
    would not load: the lines about this camera's entry relative to it, the others whole."""
    path = directory / ANALYTICS_FILE
    with roundtrip.edit_lock(directory):
        try:
            yaml, doc, before = roundtrip.load(path)
        except Exception as exc:  # ruamel's own parse errors (a hand edit broke the file)
            raise Conflict.of([f"{path}: cannot be read for editing: {str(exc).splitlines()[0]}"]) from None
        existed = path.exists()
        text = roundtrip.dump(yaml, merge_rules(doc, camera_id, rules))
        roundtrip.write_atomic(path, text)
        try:
            site = load_config(directory)
        except ConfigError as exc:
            if existed:
                roundtrip.write_atomic(path, before)
            else:
                path.unlink(missing_ok=True)
            raise Unprocessable.of(relative(exc.problems, entry_prefix(str(path), "cameras", camera_id))) from None
    assert site.analytics is not None
    return site.analytics.cameras.get(camera_id, CameraRules()), site
