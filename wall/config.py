"""Loading a site's configuration directory: ``cameras.yaml`` (required) and ``server.yaml`` (optional).

Each package owns the schema of its part (``streams.config`` for cameras and ingest); this module reads the
files, substitutes ``${ENV}`` references (so camera passwords stay out of the files; in cameras.yaml and
analytics.yaml, which the console writes, only ``server.camera_env_prefix`` variables), resolves ``file:`` demo
sources relative to the directory, and reports *every* problem as ``file: key.path: reason`` before anything
starts — a bad config never starts half a system.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

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
from wall.time_limits import TimeLimits

CAMERAS_FILE = "cameras.yaml"
SERVER_FILE = "server.yaml"
ANALYTICS_FILE = "analytics.yaml"
CATALOGUE_FILE = "event_codes.yaml"
DEFAULT_CAMERA_ENV_PREFIX = "CITYWALL_CAM_"
DEFAULT_MAX_BODY_BYTES = 1 << 20  # a login, a case decision, a camera's zones: a few KiB each
MAX_CAMERAS = 20000  # bounds of the lists and mappings of the files (a city's cameras, not a typo's million)
MAX_NETWORKS = 100
DATABASE_BACKENDS = ("sqlite", "postgresql")


class MetricsSettings(Strict):
    """`/metrics` for Prometheus. It holds no secret (never a camera URL) but names every camera and shows how the
    site is doing, so only scrapers from `allow` or with `token` get it; the others get 403, and 404 when it is off."""

    enabled: bool = Field(default=True, description="Serve /metrics.")
    allow: list[str] = Field(
        default_factory=lambda: ["127.0.0.1", "::1"], max_length=MAX_NETWORKS,
        description="Client addresses or networks (CIDR) that may scrape without the token. A request relayed by a "
        "proxy (X-Forwarded-For or Forwarded header) is never let in by its address.",
    )
    token: str | None = Field(
        default=None, min_length=16,
        description="Bearer token (Authorization: Bearer …) that lets a scraper from any address in; use ${ENV}.",
    )

    @field_validator("allow")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        return check_networks(value)


class ServerSettings(Strict):
    host: str = Field(default="127.0.0.1", description="Address to listen on; keep 127.0.0.1 behind a proxy.")
    port: int = Field(default=8080, ge=1, le=65535)
    data_dir: str = Field(default="data", description="Database and evidence, relative to the config directory.")
    evidence_dir: str | None = Field(default=None, description="Evidence (snapshots, clips), relative to the config "
                                     "directory; default: data_dir/evidence. Several control-plane replicas "
                                     "(cluster mode) must all reach this one directory: a shared volume.")
    grid_code_length: int = Field(
        default=DEFAULT_GRID_CODE_LENGTH, ge=6, le=20, description="Digits in a unit-grid code at this site."
    )
    allowed_origins: list[str] = Field(
        default_factory=list, max_length=MAX_NETWORKS,
        description="Extra Origins allowed for WebSockets and state-changing requests (the server's own is always).",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of a PostgreSQL database for larger sites, e.g. "
        "postgresql+psycopg://citywall:${DB_PASSWORD}@db.example/citywall; default: SQLite in data_dir.",
    )
    metrics: MetricsSettings = Field(default_factory=MetricsSettings, description="Who may scrape /metrics.")
    max_body_bytes: int = Field(
        default=DEFAULT_MAX_BODY_BYTES, ge=1024, le=64 << 20,
        description="Largest request body accepted (bytes); a larger one is answered 413 before it is read.",
    )
    camera_env_prefix: str = Field(
        default=DEFAULT_CAMERA_ENV_PREFIX, pattern=r"^[A-Za-z_][A-Za-z0-9_]{2,63}$",
        description="The only environment variables cameras.yaml and analytics.yaml (the files the console "
        "writes) may name in ${NAME} references: those whose name starts with this.",
    )
    trusted_proxies: list[str] = Field(default_factory=list, description=TRUSTED_PROXIES_HELP)
    live: LiveLimits = Field(default_factory=LiveLimits, description="Limits of open live-video sockets.")

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies(cls, value: list[str]) -> list[str]:
        return check_networks(value)

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            url = make_url(value)
        except ArgumentError:
            raise ValueError("not a database URL like postgresql+psycopg://user:password@host/db") from None
        if url.get_backend_name() not in DATABASE_BACKENDS:
            raise ValueError(f"database '{url.get_backend_name()}' is not supported ({', '.join(DATABASE_BACKENDS)})")
        return value

    @field_validator("allowed_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        for origin in value:
            if not re.match(r"^https?://[^/\s]+$", origin):
                raise ValueError(f"'{origin}' is not an origin like https://wall.example.org")
        return value


class CheckTimes(Strict):
    """How a video check (视频核查) watches a place: how long it must be empty, how long to keep looking."""

    clear_after: float = Field(default=60.0, gt=0, le=86400, description="Seconds the place must be empty in a "
                               "row to count as cleared on video.")
    within: float = Field(default=4 * 3600.0, gt=0, le=30 * 86400, description="Seconds to keep looking before "
                          "the verdict is 'still present'.")


class VerificationSettings(Strict):
    """The video checks' times: the default, and per event code (a stall clears in minutes, muck takes hours)."""

    default: CheckTimes = Field(default_factory=CheckTimes)
    codes: dict[str, CheckTimes] = Field(default_factory=dict, max_length=1000,
                                         description="Event code (e.g. '0501') → its own times.")

    @field_validator("codes")
    @classmethod
    def _codes(cls, value: dict[str, CheckTimes]) -> dict[str, CheckTimes]:
        bad = [code for code in value if not re.fullmatch(r"\d{4}", code)]
        if bad:
            raise ValueError(f"event codes are four digits: {', '.join(bad[:5])}")
        return value

    def times(self, code: str | None) -> CheckTimes:
        return self.codes.get(code or "", self.default)


class PlatformSettings(Strict):
    """The city's case platform: where citywall's messages go (a signed JSON webhook), how it reaches the
    evidence, and how video checks watch (its calls into citywall: docs/platform.md)."""

    webhook_url: str | None = Field(default=None, description="POST target; unset: confirmations stay local.")
    secret: str = Field(default="", description="HMAC-SHA256 key for X-Citywall-Signature and the evidence "
                        "links' signatures; use ${ENV}.")
    evidence: Literal["url", "base64"] = Field(default="url", description="Evidence as signed expiring links "
                                               "(no citywall login needed) or inline.")
    evidence_url_ttl: float = Field(default=72 * 3600.0, ge=60, le=90 * 86400,
                                    description="Seconds a signed evidence link stays valid.")
    public_base_url: str = Field(default="", description="How the platform reaches this service (for links).")
    verification: VerificationSettings = Field(default_factory=VerificationSettings)
    time_limits: TimeLimits = Field(default_factory=TimeLimits, description="处置时限 per event code, from dispatch.")
    max_attempts: int = Field(default=8, ge=1, le=100, description="Failures before a dead letter.")
    backoff_initial: float = Field(default=5.0, gt=0, le=3600, description="First retry delay, seconds.")
    backoff_max: float = Field(default=600.0, gt=0, le=86400, description="Longest retry delay, seconds.")

    @field_validator("webhook_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^\s/]+", value):
            raise ValueError(f"'{value}' is not an http(s) URL")
        return value


class ReviewSettings(Strict):
    """The review desk: the reasons an operator may give for a rejection (keys and shown names)."""

    reject_reasons: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_REJECT_REASONS), max_length=100)
    suppressible_reasons: list[str] = Field(
        default_factory=lambda: list(SUPPRESSIBLE_REASONS), max_length=100,
        description="Reasons (keys of reject_reasons) that say 'allowed here' or 'not an event': with them the "
                    "operator may ask not to be raised at that place again (误报抑制).")
    suppression_days: float | None = Field(
        default=30.0, gt=0, le=3650, description="How long such a suppression lasts unless an admin changes it; "
                                                 "null: until lifted.")


class ServerFile(Strict):
    server: ServerSettings = Field(default_factory=ServerSettings)
    streams: StreamSettings = Field(default_factory=StreamSettings)
    security: SecuritySettings = Field(default_factory=SecuritySettings)
    platform: PlatformSettings = Field(default_factory=PlatformSettings)
    review: ReviewSettings = Field(default_factory=ReviewSettings)
    recording: RecordingSettings = Field(default_factory=RecordingSettings, description="Recording and playback.")
    cluster: ClusterSettings | None = Field(default=None, description="Cameras on a Ray cluster; needs "
                                            "server.database_url (PostgreSQL).")
    layouts: list[Layout] = Field(default_factory=list, max_length=100, description="The site's own wall "
                                  "layouts (besides the built-in 1, 2x2, 3x3, 4x4, 1+5, 1+7, 3x6).")
    walls: list[WallSpec] = Field(
        default_factory=lambda: [WallSpec(name="hall", title="指挥大厅", layout="2x2")], max_length=500,
        description="Shared walls, created at the first start; afterwards their state lives in the database.",
    )


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
