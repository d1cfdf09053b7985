"""Loading a site's configuration directory: ``cameras.yaml`` (required) and ``server.yaml`` (optional).

Each package owns the schema of its part (``streams.config`` for cameras and ingest); this module reads the
files, substitutes ``${ENV}`` references (so camera passwords stay out of the files), resolves ``file:`` demo
sources relative to the directory, and reports *every* problem as ``file: key.path: reason`` before anything
starts — a bad config never starts half a system.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, Field, field_validator

from streams.config import DEFAULT_GRID_CODE_LENGTH, CameraConfig, StreamSettings, Strict
from streams.source import file_path, is_file_url
from streams.yaml_config import ConfigError, read_yaml, validate
from vision.catalogue import DEFAULT_CATALOGUE, Catalogue, load_catalogue
from vision.rules_config import AnalyticsFile

DEFAULT_CARD = Path(__file__).resolve().parents[1] / "models" / "yolox_nano_coco_416.yaml"

CAMERAS_FILE = "cameras.yaml"
SERVER_FILE = "server.yaml"
ANALYTICS_FILE = "analytics.yaml"
CATALOGUE_FILE = "event_codes.yaml"
class ServerSettings(Strict):
    host: str = Field(default="127.0.0.1", description="Address to listen on; keep 127.0.0.1 behind a proxy.")
    port: int = Field(default=8080, ge=1, le=65535)
    data_dir: str = Field(default="data", description="Database and evidence, relative to the config directory.")
    grid_code_length: int = Field(
        default=DEFAULT_GRID_CODE_LENGTH, ge=6, le=20, description="Digits in a unit-grid code at this site."
    )
    allowed_origins: list[str] = Field(
        default_factory=list, description="Extra Origins allowed for WebSockets (the server's own is always)."
    )

    @field_validator("allowed_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        for origin in value:
            if not re.match(r"^https?://[^/\s]+$", origin):
                raise ValueError(f"'{origin}' is not an origin like https://wall.example.org")
        return value


class ServerFile(Strict):
    server: ServerSettings = Field(default_factory=ServerSettings)
    streams: StreamSettings = Field(default_factory=StreamSettings)


class CamerasFile(Strict):
    cameras: list[CameraConfig] = Field(min_length=1, description="At least one camera.")


@dataclass(frozen=True)
class SiteConfig:
    directory: Path
    server: ServerSettings
    streams: StreamSettings
    cameras: list[CameraConfig]
    analytics: AnalyticsFile | None = None
    model_card: Path | None = None
    catalogue: Catalogue | None = None

    @property
    def data_dir(self) -> Path:
        path = Path(self.server.data_dir)
        return path if path.is_absolute() else self.directory / path


def _check_cameras(cameras: list[CameraConfig], directory: Path, shown: str) -> list[CameraConfig]:
    problems: list[str] = []
    first_index: dict[str, int] = {}
    national: dict[str, int] = {}
    resolved: list[CameraConfig] = []
    for i, cam in enumerate(cameras):
        if cam.id in first_index:
            problems.append(f"{shown}: cameras[{i}].id: duplicate id '{cam.id}' (also cameras[{first_index[cam.id]}])")
        first_index.setdefault(cam.id, i)
        if cam.national_id:
            if cam.national_id in national:
                other = national[cam.national_id]
                problems.append(f"{shown}: cameras[{i}].national_id: duplicate national id (also cameras[{other}])")
            national.setdefault(cam.national_id, i)
        updates: dict[str, str] = {}
        for key in ("url", "main_url"):
            url = getattr(cam, key)
            if url and is_file_url(url):
                path = file_path(url)
                path = path if path.is_absolute() else (directory / path).resolve()
                if not path.is_file():
                    problems.append(f"{shown}: cameras[{i}].{key}: file '{path}' does not exist")
                updates[key] = f"file:{path}"
        resolved.append(cam.model_copy(update=updates))
    if problems:
        raise ConfigError(problems)
    return resolved


def load_config(directory: str | Path) -> SiteConfig:
    """Read and validate a config directory; raises :class:`ConfigError` listing every problem found."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ConfigError([f"{directory}: not a directory (expected {CAMERAS_FILE} and optionally {SERVER_FILE})"])
    server_path, cameras_path = directory / SERVER_FILE, directory / CAMERAS_FILE
    problems: list[str] = []
    server_file: ServerFile | None = ServerFile()
    if server_path.exists():
        try:
            data = read_yaml(server_path, str(server_path))
            server_file = validate(ServerFile, data, str(server_path), {})
        except ConfigError as exc:
            problems += exc.problems
            server_file = None
    if not cameras_path.exists():
        raise ConfigError([*problems, f"{cameras_path}: missing (a site needs at least one camera)"])
    # With server.yaml broken the site's grid-code length is unknown: check cameras.yaml all the same, so that
    # one run reports both files, but leave its grid codes to the run after server.yaml is fixed.
    length = server_file.server.grid_code_length if server_file else DEFAULT_GRID_CODE_LENGTH
    try:
        data = read_yaml(cameras_path, str(cameras_path))
        unchecked = frozenset() if server_file else frozenset({"grid_code"})
        cams = validate(CamerasFile, data, str(cameras_path), {"grid_code_length": length}, unchecked)
        cameras = _check_cameras(cams.cameras, directory, str(cameras_path))
    except ConfigError as exc:
        problems += exc.problems
    analytics, card, catalogue = None, None, None
    if (directory / ANALYTICS_FILE).exists():
        try:
            analytics, card, catalogue = _load_analytics(directory, [c.id for c in cameras] if not problems else None)
        except ConfigError as exc:
            problems += exc.problems
    if problems or server_file is None:
        raise ConfigError(problems)
    return SiteConfig(directory=directory, server=server_file.server, streams=server_file.streams, cameras=cameras,
                      analytics=analytics, model_card=card, catalogue=catalogue)


def _load_analytics(directory: Path, camera_ids: list[str] | None) -> tuple[AnalyticsFile, Path, Catalogue]:
    """analytics.yaml: the model card and each camera's zones; codes checked against the site's catalogue."""
    path = directory / ANALYTICS_FILE
    shown = str(path)
    analytics: AnalyticsFile = validate(AnalyticsFile, read_yaml(path, shown), shown, {})
    problems: list[str] = []
    catalogue_path = directory / CATALOGUE_FILE if (directory / CATALOGUE_FILE).exists() else DEFAULT_CATALOGUE
    try:
        catalogue = load_catalogue(catalogue_path)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise ConfigError([f"{catalogue_path}: {exc}"]) from None
    card = DEFAULT_CARD
    if analytics.model:
        card = Path(analytics.model) if Path(analytics.model).is_absolute() else directory / analytics.model
        if not card.is_file():
            problems.append(f"{shown}: model: model card '{card}' does not exist")
    for cam_id, rules in analytics.cameras.items():
        if camera_ids is not None and cam_id not in camera_ids:
            problems.append(f"{shown}: cameras.{cam_id}: no camera with this id in {CAMERAS_FILE}")
        for i, zone in enumerate(rules.zones):
            assert zone.code is not None
            why = catalogue.check(zone.code, zone.family)
            if why:
                problems.append(f"{shown}: cameras.{cam_id}.zones[{i}].code: {why}")
    if problems:
        raise ConfigError(problems)
    return analytics, card, catalogue


def load_model_file(path: str | Path, model: type[BaseModel], context: dict[str, Any] | None = None) -> Any:
    """Read one YAML file into ``model`` with the same error lines as the site config (used for camera rules)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError([f"{path}: missing"])
    return validate(model, read_yaml(path, str(path)), str(path), context or {})
