"""The schema of ``server.yaml``: the service's own settings (listening, database, metrics, the platform, the
review desk) and the file that holds them with every other package's section.

A module of its own beside ``wall.security_settings``, ``wall.recording_settings`` and ``wall.cluster_settings``
so that ``wall.config`` is only the loader (reading the files, ``${ENV}``, ``file:`` sources, the checks across
files); ``wall.config`` re-exports every name here, so code and documents keep importing them from there.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from settings.model import Strict
from streams.config import DEFAULT_GRID_CODE_LENGTH, StreamSettings
from wall.cluster_settings import ClusterSettings
from wall.hall_settings import DEFAULT_REJECT_REASONS, SUPPRESSIBLE_REASONS, HallSettings, Layout, WallSpec
from wall.recording_settings import RecordingSettings
from wall.security_settings import TRUSTED_PROXIES_HELP, LiveLimits, SecuritySettings, check_networks
from wall.time_limits import TimeLimits

DEFAULT_CAMERA_ENV_PREFIX = "CITYWALL_CAM_"
DEFAULT_MAX_BODY_BYTES = 1 << 20  # a login, a case decision, a camera's zones: a few KiB each
MAX_NETWORKS = 100  # bounds of the lists of addresses and origins
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
    hall: HallSettings = Field(default_factory=HallSettings, description="The hall's own clock (time_zone).")
    recording: RecordingSettings = Field(default_factory=RecordingSettings, description="Recording and playback.")
    cluster: ClusterSettings | None = Field(default=None, description="Cameras on a Ray cluster; needs "
                                            "server.database_url (PostgreSQL).")
    layouts: list[Layout] = Field(default_factory=list, max_length=100, description="The site's own wall "
                                  "layouts (besides the built-in 1, 2x2, 3x3, 4x4, 1+5, 1+7, 3x6).")
    walls: list[WallSpec] = Field(
        default_factory=lambda: [WallSpec(name="hall", title="指挥大厅", layout="2x2")], max_length=500,
        description="Shared walls, created at the first start; afterwards their state lives in the database.",
    )
