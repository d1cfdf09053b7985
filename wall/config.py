"""Loading a site's configuration directory: ``cameras.yaml`` (required) and ``server.yaml`` (optional).

Each package owns the schema of its part (``streams.config`` for cameras and ingest; ``wall.server_settings``
for server.yaml's own sections, whose names are importable from here too); this module reads the files,
substitutes ``${ENV}`` references (so camera passwords stay out of the files; in cameras.yaml and analytics.yaml,
which the console writes, only ``server.camera_env_prefix`` variables), resolves ``file:`` demo sources relative
to the directory, and reports *every* problem as ``file: key.path: reason`` before anything starts — a bad
config never starts half a system.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import Field

from settings.errors import ConfigError
from settings.loading import validate
from settings.model import Strict
from settings.yaml_reader import read_yaml
from streams.config import DEFAULT_GRID_CODE_LENGTH, CameraConfig, StreamSettings
from streams.source import file_path, is_file_url
from vision.card import DEFAULT_CARD
from vision.catalogue import DEFAULT_CATALOGUE, Catalogue, load_catalogue
from vision.rules_config import AnalyticsFile
from wall.cluster_settings import ClusterSettings
from wall.hall_settings import DEFAULT_REJECT_REASONS, SUPPRESSIBLE_REASONS, Layout, WallSpec, layout_table
from wall.recording_settings import RecordingSettings
from wall.security_settings import TRUSTED_PROXIES_HELP, LiveLimits, SecuritySettings, check_networks
from wall.server_settings import (
    DATABASE_BACKENDS,
    DEFAULT_CAMERA_ENV_PREFIX,
    DEFAULT_MAX_BODY_BYTES,
    MAX_NETWORKS,
    CheckTimes,
    MetricsSettings,
    PlatformSettings,
    ReviewSettings,
    ServerFile,
    ServerSettings,
    VerificationSettings,
)
from wall.time_limits import TimeLimits

# What this module has always offered: the loader's own names, the schema of server.yaml (wall.server_settings)
# and the settings models its fields are made of, so that callers import every part of a site's config from here.
__all__ = [
    "ANALYTICS_FILE", "CAMERAS_FILE", "CATALOGUE_FILE", "DATABASE_BACKENDS", "DEFAULT_CAMERA_ENV_PREFIX",
    "DEFAULT_CARD", "DEFAULT_CATALOGUE", "DEFAULT_GRID_CODE_LENGTH", "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_REJECT_REASONS", "MAX_CAMERAS", "MAX_NETWORKS", "SERVER_FILE", "SUPPRESSIBLE_REASONS",
    "TRUSTED_PROXIES_HELP", "AnalyticsFile", "CameraConfig", "CamerasFile", "Catalogue", "CheckTimes",
    "ClusterSettings", "ConfigError", "Layout", "LiveLimits", "MetricsSettings", "PlatformSettings",
    "RecordingSettings", "ReviewSettings", "SecuritySettings", "ServerFile", "ServerSettings", "SiteConfig",
    "StreamSettings", "TimeLimits", "VerificationSettings", "WallSpec", "check_networks", "cluster_problems",
    "file_path", "is_file_url", "layout_table", "load_catalogue", "load_config", "load_config_or_report",
    "read_yaml", "validate",
]

CAMERAS_FILE = "cameras.yaml"
SERVER_FILE = "server.yaml"
ANALYTICS_FILE = "analytics.yaml"
CATALOGUE_FILE = "event_codes.yaml"
MAX_CAMERAS = 20000  # bounds of the lists and mappings of the files (a city's cameras, not a typo's million)


class CamerasFile(Strict):
    cameras: list[CameraConfig] = Field(min_length=1, max_length=MAX_CAMERAS, description="At least one camera.")


@dataclass(frozen=True)
class SiteConfig:
    """A loaded site: ``server.yaml`` as read (``server_file``: a new section there needs no change here), the
    cameras with their ``file:`` sources resolved, the analytics parts, and what is derived from them."""

    directory: Path
    cameras: list[CameraConfig]
    server_file: ServerFile = field(default_factory=ServerFile)
    analytics: AnalyticsFile | None = None
    model_card: Path | None = None
    catalogue: Catalogue | None = None
    layouts: dict[str, Layout] = field(default_factory=lambda: layout_table([]))  # built-ins and the site's own

    @property
    def data_dir(self) -> Path:
        # CITYWALL_DATA_DIR wins over server.data_dir: the Docker image keeps data on its /data volume whatever
        # the mounted (read-only) config says, for `serve` and the account commands alike (docs/deployment.md).
        path = Path(os.environ.get("CITYWALL_DATA_DIR") or self.server_file.server.data_dir)
        return path if path.is_absolute() else self.directory / path

    @property
    def evidence_dir(self) -> Path:
        """Where the analytics, the cluster's event ingress and filing keep evidence, and the routes and the
        outbox read it: one directory that every control-plane replica reaches (named by content hash, so two
        replicas writing one file write the same bytes)."""
        configured = self.server_file.server.evidence_dir
        if configured is None:
            return self.data_dir / "evidence"
        path = Path(configured)
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


def load_config(directory: str | Path, *, cluster_address: str | None = None) -> SiteConfig:
    """Read and validate a config directory; raises :class:`ConfigError` listing every problem found.
    ``cluster_address``: ``citywall serve --cluster ADDRESS`` (cluster mode, ``cluster.address`` overridden)."""
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
    prefix = server_file.server.camera_env_prefix if server_file else DEFAULT_CAMERA_ENV_PREFIX
    try:
        data = read_yaml(cameras_path, str(cameras_path))
        unchecked = frozenset() if server_file else frozenset({"grid_code"})
        cams = validate(CamerasFile, data, str(cameras_path), {"grid_code_length": length}, unchecked, prefix)
        cameras = _check_cameras(cams.cameras, directory, str(cameras_path))
    except ConfigError as exc:
        problems += exc.problems
    analytics, card, catalogue = None, None, None
    if (directory / ANALYTICS_FILE).exists():
        try:
            analytics, card, catalogue = _load_analytics(directory, [c.id for c in cameras] if not problems else None,
                                                         prefix)
        except ConfigError as exc:
            problems += exc.problems
    layouts = layout_table(server_file.layouts) if server_file else {}
    if server_file is not None and not problems:
        problems += _check_walls(server_file.walls, layouts, [c.id for c in cameras], str(server_path))
        if cluster_address is not None:
            cluster = server_file.cluster or ClusterSettings(address=cluster_address)
            server_file = server_file.model_copy(update={"cluster": cluster.model_copy(
                update={"address": cluster_address})})
        problems += cluster_problems(server_file, str(server_path))
    if problems or server_file is None:
        raise ConfigError(problems)
    return SiteConfig(directory=directory, cameras=cameras, server_file=server_file, analytics=analytics,
                      model_card=card, catalogue=catalogue, layouts=layouts)


def cluster_problems(server_file: ServerFile, shown: str) -> list[str]:
    """Cluster mode keeps what must survive a node in one shared store: SQLite in data_dir is on one machine."""
    url = server_file.server.database_url
    if server_file.cluster is None or (url is not None and url.startswith("postgresql")):
        return []
    return [f"{shown}: server.database_url: cluster mode needs PostgreSQL (postgresql+psycopg://…), "
            "not SQLite in data_dir"]


def _check_walls(walls: list[WallSpec], layouts: dict[str, Layout], camera_ids: list[str], shown: str) -> list[str]:
    problems: list[str] = []
    seen: set[str] = set()
    for i, wall in enumerate(walls):
        if wall.name in seen:
            problems.append(f"{shown}: walls[{i}].name: duplicate wall '{wall.name}'")
        seen.add(wall.name)
        layout = layouts.get(wall.layout)
        if layout is None:
            problems.append(f"{shown}: walls[{i}].layout: no layout '{wall.layout}' ({', '.join(layouts)})")
        elif wall.alarm_tile is not None and wall.alarm_tile >= layout.tile_count:
            last = layout.tile_count - 1
            problems.append(f"{shown}: walls[{i}].alarm_tile: layout {wall.layout} has tiles 0..{last}")
        for j, camera in enumerate(wall.cameras):
            if camera not in camera_ids:
                problems.append(f"{shown}: walls[{i}].cameras[{j}]: no camera '{camera}' in {CAMERAS_FILE}")
        if wall.tour is not None:
            for j, camera in enumerate(wall.tour.cameras):
                if camera not in camera_ids:
                    problems.append(f"{shown}: walls[{i}].tour.cameras[{j}]: no camera '{camera}' in {CAMERAS_FILE}")
            if not wall.tour.cameras and not wall.tour.group:
                problems.append(f"{shown}: walls[{i}].tour: give cameras or a group")
    return problems


def _load_analytics(directory: Path, camera_ids: list[str] | None,
                    env_prefix: str) -> tuple[AnalyticsFile, Path, Catalogue]:
    """analytics.yaml: the model card and each camera's zones; codes checked against the site's catalogue."""
    path = directory / ANALYTICS_FILE
    shown = str(path)
    analytics: AnalyticsFile = validate(AnalyticsFile, read_yaml(path, shown), shown, {}, env_prefix=env_prefix)
    problems: list[str] = []
    catalogue_path = directory / CATALOGUE_FILE if (directory / CATALOGUE_FILE).exists() else DEFAULT_CATALOGUE
    catalogue = load_catalogue(catalogue_path)
    card = DEFAULT_CARD
    if analytics.model:
        card = Path(analytics.model) if Path(analytics.model).is_absolute() else directory / analytics.model
        if not card.is_file():
            problems.append(f"{shown}: model: model card '{card}' does not exist")
    for cam_id, rules in analytics.cameras.items():
        if camera_ids is not None and cam_id not in camera_ids:
            problems.append(f"{shown}: cameras.{cam_id}: no camera with this id in {CAMERAS_FILE}")
        problems += [f"{shown}: cameras.{cam_id}.{line}" for line in catalogue.zone_problems(rules)]
    if problems:
        raise ConfigError(problems)
    return analytics, card, catalogue


def load_config_or_report(directory: str | Path, consequence: str = "", *,
                          cluster_address: str | None = None) -> SiteConfig | None:
    """For commands: the site config, or None after printing every problem to stderr (one line each)."""
    try:
        return load_config(directory, cluster_address=cluster_address)
    except ConfigError as exc:
        print(f"citywall: the configuration has errors{consequence}:", file=sys.stderr)
        for line in exc.problems:
            print(f"  {line}", file=sys.stderr)
        return None
