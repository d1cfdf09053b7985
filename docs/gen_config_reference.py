"""Generate the field tables of docs/configuration.md from the pydantic models that validate the config.

    python docs/gen_config_reference.py           # print the generated reference (markdown)
    python docs/gen_config_reference.py --write   # replace the generated block in docs/configuration.md
    python docs/gen_config_reference.py --check   # exit 1 if docs/configuration.md is out of date

Types, defaults, bounds and descriptions come from the models themselves. What a validator function checks
cannot be read off the model, so it is written in RULES / MODEL_RULES below, next to the constants it quotes;
the script refuses to run while a validator has no entry there (or an entry names no validator), so a new
check cannot reach the code without reaching the doc.
"""

from __future__ import annotations

import sys
import types
import typing
from pathlib import Path
from typing import Any

import annotated_types as at
from pydantic import BaseModel
from pydantic_core import PydanticUndefined

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from streams.config import (  # noqa: E402
    CAMERA_ID,
    DEFAULT_GRID_CODE_LENGTH,
    SCHEMES,
    CameraConfig,
    StreamSettings,
)
from streams.ptz_config import PtzConfig  # noqa: E402
from streams.recording_config import RecordingPolicy, RecordingWindow  # noqa: E402
from vision.rules_config import (  # noqa: E402
    AnalyticsFile,
    CameraRules,
    Confirm,
    DetectorGateSettings,
    StaticChangeSettings,
    TimeRange,
    ZoneConfig,
)
from wall.config import (  # noqa: E402
    DATABASE_BACKENDS,
    CamerasFile,
    CheckTimes,
    ClusterSettings,
    MetricsSettings,
    PlatformSettings,
    ReviewSettings,
    SecuritySettings,
    ServerFile,
    ServerSettings,
    TimeLimits,
    VerificationSettings,
)
from wall.hall_settings import (  # noqa: E402
    Cell,
    HallSettings,
    Layout,
    TourSpec,
    WallSpec,
)
from wall.recording_settings import RecordingSettings  # noqa: E402
from wall.security_settings import LiveLimits  # noqa: E402
from wall.time_limits import MAX_SECONDS  # noqa: E402

DOC = ROOT / "docs" / "configuration.md"
BEGIN = "<!-- BEGIN GENERATED: python docs/gen_config_reference.py --write -->"
END = "<!-- END GENERATED -->"

_URL_RULE = (
    f"scheme one of {', '.join(SCHEMES)}; `rtsp`/`rtsps` need a host and a port in 1-65535 "
    "(if one is given) and no spaces; `file:` needs a path, relative to the config directory, of a file that "
    "exists; at most 2048 characters, no control characters (CR, LF, tab, NUL, …) after `${ENV}` substitution"
)

# What field validators check, per (model, field). Uniqueness is checked by wall.config across cameras.
RULES: dict[tuple[type[BaseModel], str], str] = {
    (HallSettings, "time_zone"): "an IANA time zone name (e.g. `Asia/Shanghai`), from the bundled tzdata",
    (CameraConfig, "id"): f"matches `{CAMERA_ID.pattern}`; unique in the file",
    (CameraConfig, "national_id"): "exactly 20 ASCII digits (quote it); unique in the file",
    (CameraConfig, "url"): _URL_RULE,
    (CameraConfig, "main_url"): _URL_RULE,
    (PtzConfig, "address"): "`http://host[:port]` or `https://host[:port]`: no credentials (they go in `user` and "
                            "`password`), no path (ONVIF's device service path is fixed), no spaces or control "
                            "characters",
    (CameraConfig, "grid_code"): (
        f"exactly `server.grid_code_length` ASCII digits (default {DEFAULT_GRID_CODE_LENGTH}; quote it)"
    ),
    (ServerSettings, "allowed_origins"): "each `http://host[:port]` or `https://host[:port]`, no path",
    (ServerSettings, "database_url"): (
        f"a SQLAlchemy URL of a supported database ({', '.join(DATABASE_BACKENDS)}); put its password in an "
        "`${ENV}` reference"
    ),
    (TimeRange, "start"): "`HH:MM` (00:00–23:59) or `24:00`",
    (TimeRange, "end"): "`HH:MM` (00:00–23:59) or `24:00`; before `start` means the window spans midnight",
    (PlatformSettings, "webhook_url"): "an `http://` or `https://` URL",
    (VerificationSettings, "codes"): "keys are four-digit event codes (quote them: `'0501'`)",
    (TimeLimits, "codes"): (
        f"keys are four-digit event codes (quote them: `'0501'`); each value > 0 and ≤ {MAX_SECONDS:.0f}, or null"),
    (MetricsSettings, "allow"): "each an IPv4 or IPv6 address or network in CIDR form (`10.0.0.0/8`)",
    (ServerSettings, "trusted_proxies"): "each an IPv4 or IPv6 address or network in CIDR form (`10.0.0.0/8`)",
    (WallSpec, "controllers"): (
        "each a user name, `role:operator` / `role:admin` (never `role:viewer`) or `group:NAME` (the holders of "
        "that camera group); repeats are dropped"
    ),
    (ZoneConfig, "polygon"): "every point inside 0–1; the polygon must have an area",
}
# What model validators check, per (model, validator function name).
MODEL_RULES: dict[tuple[type[BaseModel], str], str] = {
    (CameraConfig, "_position"): "`lon` and `lat` are given together or not at all; `analysis_max_interval`, "
                                  "when given, is at least `analysis_interval`.",
    (StreamSettings, "_backoff"): "`backoff_max` must be at least `backoff_initial`.",
    (Confirm, "_order"): "`hits` must not exceed `looks`.",
    (ZoneConfig, "_consistent"): (
        "`min_box` < `max_box`; `clear_after_seconds` ≥ `grace_seconds`; `code` defaults by family "
        "(street_stall 0501, road_occupation 0507, garbage 0102) and must be a code of that family in the "
        "catalogue (`vision/event_codes.yaml`, or `event_codes.yaml` in the config directory)."
    ),
    (CameraRules, "_unique"): "zone ids are unique within a camera.",
    (SecuritySettings, "_delays"): "`delay_max_seconds` must be at least `delay_seconds`.",
    (Layout, "_shape"): (
        "either `grid` or `columns` + `rows` + `cells`; cells stay inside the grid and do not overlap; at most 64 "
        "tiles; `alarm_tile` defaults to the biggest tile."
    ),
}

# (heading, YAML location, model), in the order the doc shows them.
SECTIONS: list[tuple[str, str, type[BaseModel]]] = [
    ("cameras.yaml", "at the top level of `cameras.yaml`", CamerasFile),
    ("cameras.yaml: one camera", "of each item of `cameras:`", CameraConfig),
    ("cameras.yaml: camera ptz", "under a camera's `ptz:` (PTZ control, docs/operator-guide.md)", PtzConfig),
    ("server.yaml", "at the top level of `server.yaml`", ServerFile),
    ("server.yaml: server", "under `server:` in `server.yaml`", ServerSettings),
    ("server.yaml: server.metrics", "under `server: metrics:` in `server.yaml` (see docs/deployment.md)",
     MetricsSettings),
    ("server.yaml: server.live", "under `server: live:` in `server.yaml` (live video: sockets and H.264 renditions)",
     LiveLimits),
    ("server.yaml: streams", "under `streams:` in `server.yaml`", StreamSettings),
    ("server.yaml: security", "under `security:` in `server.yaml`", SecuritySettings),
    ("server.yaml: platform", "under `platform:` in `server.yaml` (the city's case platform)", PlatformSettings),
    ("server.yaml: platform.verification", "under `platform: verification:` in `server.yaml` (the video checks' "
     "times, docs/platform.md)", VerificationSettings),
    ("server.yaml: check times", "under `platform: verification: default:` and of each entry of its `codes:`",
     CheckTimes),
    ("server.yaml: platform.time_limits", "under `platform: time_limits:` in `server.yaml` (处置时限: a dispatched "
     "case's deadline, docs/platform.md)", TimeLimits),
    ("server.yaml: review", "under `review:` in `server.yaml`", ReviewSettings),
    ("server.yaml: hall", "under `hall:` in `server.yaml` (the hall's clock: the statistics' days and calendar-day "
     "time limits)", HallSettings),
    ("server.yaml: recording", "under `recording:` in `server.yaml` (录像: segment storage, retention, the "
     "recording blocks cameras inherit; docs/architecture.md \"Recording and playback\")", RecordingSettings),
    ("recording block", "of a camera's `recording:` in `cameras.yaml`, of `recording: default:` and of each "
     "entry of `recording: groups:` in `server.yaml` (unset keys: the group's, then the site's)", RecordingPolicy),
    ("recording window", "of each item of a recording block's `schedule:`", RecordingWindow),
    ("server.yaml: cluster", "under `cluster:` in `server.yaml` (cluster mode, docs/architecture.md; "
     "`citywall serve --cluster ADDRESS` sets `address`)", ClusterSettings),
    ("server.yaml: one layout", "of each item of `layouts:` (the site's own wall layouts)", Layout),
    ("server.yaml: layout cell", "of each item of a layout's `cells:`", Cell),
    ("server.yaml: one wall", "of each item of `walls:` (shared walls; each wall's `layout` must be built in or "
     "in `layouts:`, its cameras in cameras.yaml)", WallSpec),
    ("server.yaml: wall tour", "under a wall's `tour:`", TourSpec),
    ("analytics.yaml", "at the top level of `analytics.yaml` (optional; without it nothing is analysed)",
     AnalyticsFile),
    ("analytics.yaml: one camera", "of each entry of `cameras:` (keyed by camera id); also the form of a "
     "`citywall replay --camera-config` file", CameraRules),
    ("analytics.yaml: camera detector_gate", "under a camera's `detector_gate:`", DetectorGateSettings),
    ("analytics.yaml: one zone", "of each item of a camera's `zones:`", ZoneConfig),
    ("analytics.yaml: zone schedule", "of each item of a zone's `schedule:`", TimeRange),
    ("analytics.yaml: zone confirm", "under a zone's `confirm:`", Confirm),
    ("analytics.yaml: zone static_change", "under a zone's `static_change:` (garbage without a class)",
     StaticChangeSettings),
]

_TYPE_NAMES = {str: "string", int: "integer", float: "number", bool: "boolean"}


def type_name(annotation: Any) -> str:
    """A Python annotation in the words of a YAML author."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        name = " or ".join(type_name(a) for a in args)
        return f"{name} (optional)" if len(args) < len(typing.get_args(annotation)) else name
    if origin is list:
        (item,) = typing.get_args(annotation)
        return f"list of {type_name(item)}"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return f"mapping ({annotation.__name__}, below)"
    return _TYPE_NAMES.get(annotation, getattr(annotation, "__name__", str(annotation)))


def default_text(field: Any) -> str:
    if field.default_factory is not None:
        value = field.default_factory()
        if isinstance(value, BaseModel):
            return "all defaults"
        return f"`{value!r}`"
    if field.default is PydanticUndefined:
        return "**required**"
    if field.default is None:
        return "not set"
    if isinstance(field.default, bool):
        return f"`{str(field.default).lower()}`"
    return f"`{field.default}`"


def constraints(model: type[BaseModel], name: str, field: Any) -> str:
    parts: list[str] = []
    for item in field.metadata:
        if isinstance(item, at.Ge):
            parts.append(f"≥ {item.ge}")
        elif isinstance(item, at.Gt):
            parts.append(f"> {item.gt}")
        elif isinstance(item, at.Le):
            parts.append(f"≤ {item.le}")
        elif isinstance(item, at.Lt):
            parts.append(f"< {item.lt}")
        elif isinstance(item, at.MinLen):
            parts.append(f"at least {_count(item.min_length, field)}")
        elif isinstance(item, at.MaxLen):
            parts.append(f"at most {_count(item.max_length, field)}")
        elif getattr(item, "pattern", None):
            parts.append(f"matches `{item.pattern}`")
        else:
            raise SystemExit(
                f"{model.__name__}.{name}: no wording for constraint {item!r}; add it to this script"
            )
    if (model, name) in RULES:
        parts.append(RULES[(model, name)])
    return "; ".join(parts)


def _count(n: int, field: Any) -> str:
    unit = "item" if typing.get_origin(field.annotation) is list else "character"
    return f"{n} {unit}" + ("" if n == 1 else "s")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def check_rules() -> None:
    """Every validator has a RULES/MODEL_RULES entry and every entry names a validator."""
    wanted_fields: set[tuple[type[BaseModel], str]] = set()
    wanted_models: set[tuple[type[BaseModel], str]] = set()
    for _heading, _where, model in SECTIONS:
        decorators = model.__pydantic_decorators__
        for dec in decorators.field_validators.values():
            wanted_fields.update((model, f) for f in dec.info.fields)
        wanted_models.update((model, name) for name in decorators.model_validators)
    problems = [
        f"validator of {m.__name__}.{f} has no entry in RULES" for m, f in wanted_fields - RULES.keys()
    ]
    problems += [
        f"RULES entry {m.__name__}.{f} matches no validator" for m, f in RULES.keys() - wanted_fields
    ]
    problems += [
        f"model validator {m.__name__}.{v} has no entry in MODEL_RULES"
        for m, v in wanted_models - MODEL_RULES.keys()
    ]
    problems += [
        f"MODEL_RULES entry {m.__name__}.{v} matches no validator"
        for m, v in MODEL_RULES.keys() - wanted_models
    ]
    if problems:
        raise SystemExit("gen_config_reference: " + "; ".join(sorted(problems)))


def generate() -> str:
    check_rules()
    out: list[str] = []
    for heading, where, model in SECTIONS:
        out += [f"### {heading}", ""]
        doc = model.__dict__.get("__doc__")
        out.append(f"Keys {where}." + (f" {' '.join(doc.split())}" if doc else ""))
        out.append("")
        out += ["| key | type | default | constraints | description |", "|---|---|---|---|---|"]
        for name, field in model.model_fields.items():
            row = [
                f"`{name}`",
                type_name(field.annotation),
                default_text(field),
                constraints(model, name, field),
                field.description or "",
            ]
            out.append("| " + " | ".join(_cell(c) for c in row) + " |")
        rules = [text for (m, _v), text in MODEL_RULES.items() if m is model]
        if rules:
            out += ["", "Across keys: " + " ".join(rules)]
        out.append("")
    return "\n".join(out).rstrip("\n") + "\n"


def generated_block(doc_text: str) -> str:
    """The text between the markers of a doc (what ``generate()`` must equal)."""
    try:
        start = doc_text.index(BEGIN) + len(BEGIN)
        end = doc_text.index(END, start)
    except ValueError as exc:
        raise SystemExit(f"{DOC}: markers {BEGIN!r} … {END!r} not found") from exc
    return doc_text[start:end].strip("\n") + "\n"


def main(argv: list[str]) -> int:
    text = generate()
    if not argv:
        sys.stdout.write(text)
        return 0
    if argv == ["--check"]:
        if generated_block(DOC.read_text(encoding="utf-8")) != text:
            print(f"{DOC} is out of date: run python docs/gen_config_reference.py --write", file=sys.stderr)
            return 1
        return 0
    if argv == ["--write"]:
        doc = DOC.read_text(encoding="utf-8")
        generated_block(doc)  # markers present
        head, rest = doc.split(BEGIN, 1)
        _old, tail = rest.split(END, 1)
        DOC.write_text(f"{head}{BEGIN}\n\n{text}\n{END}{tail}", encoding="utf-8")
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
