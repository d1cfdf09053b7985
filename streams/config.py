"""The part of the configuration that the streams layer owns: cameras and ingest tunables.

The schema lives here, in code, on the ground floor's strict base (``settings``); ``wall.config`` reads the YAML
files, resolves ``${ENV}`` references and relative ``file:`` paths, and reports ``file: key.path: reason`` lines.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import Field, ValidationInfo, field_validator, model_validator

from settings.model import Strict
from streams.addresses import check_host_and_port
from streams.ptz_config import PtzConfig
from streams.recording_config import RecordingPolicy

SCHEMES = ("rtsp", "rtsps", "file")
CAMERA_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
NATIONAL_ID = re.compile(r"^[0-9]{20}$")  # ASCII only: \d would also match full-width digits
DEFAULT_GRID_CODE_LENGTH = 14


def is_control(char: str) -> bool:
    """C0 and C1 controls, DEL, and the characters that end a line in Unicode (U+2028, U+2029, U+0085)."""
    return unicodedata.category(char) in ("Cc", "Zl", "Zp")


MAX_URL_LENGTH = 2048


def check_stream_url(url: str) -> str:
    """Accept only what the hub can open, so a typo fails at load time and not as an endless reconnect loop.

    A URL is data, never a template: a control character (CR, LF, NUL, DEL, C1, the Unicode line separators)
    is refused wherever it came from — the file, an ``${ENV}`` value, the console. FFmpeg writes the URL into
    its RTSP request lines, so a ``\\r\\n`` in it would add lines of the sender's choosing to what a camera (or
    any line-based service the URL points at) receives. Spaces are refused in rtsp(s) URLs for the same
    reason (a space ends the request line's URL); ``file:`` paths may have them."""
    if not url or not url.strip():
        raise ValueError("is empty")
    url = url.strip()
    if len(url) > MAX_URL_LENGTH:
        raise ValueError(f"is longer than {MAX_URL_LENGTH} characters")
    bad = next((c for c in url if is_control(c)), None)
    if bad is not None:
        raise ValueError(f"contains a control character (U+{ord(bad):04X}); a URL is one line of text")
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    if scheme not in SCHEMES:
        shown = scheme or url[:20]
        raise ValueError(f"scheme '{shown}' is not supported ({', '.join(SCHEMES)})")
    if scheme in ("rtsp", "rtsps"):
        parts = urlsplit(url)
        if any(c.isspace() for c in url):
            raise ValueError("contains a space (write it as %20)")
        check_host_and_port(parts)
    elif not url[len("file:") :].lstrip("/"):
        raise ValueError("names no file")
    return url


class CameraConfig(Strict):
    """One camera as the command hall knows it: where its video comes from and where it stands in the city."""

    id: str = Field(description="Short stable id used in URLs and logs: a-z, 0-9, '-', '_' (max 64).")
    name: str = Field(min_length=1, max_length=120, description="What the wall shows on the tile.")
    national_id: str | None = Field(
        default=None, description="20-digit GB/T 28181 national camera id from the public-security platform."
    )
    url: str = Field(description="Sub stream (tiles, analytics): rtsp://, rtsps:// or file: (looped demo).")
    main_url: str | None = Field(default=None, description="Main stream for a maximised tile and evidence.")
    group: str | None = Field(default=None, max_length=64, description="Camera group, e.g. a street.")
    grid_code: str | None = Field(default=None, description="Unit-grid code (CJ/T 213), digits only.")
    street: str | None = None
    community: str | None = None
    address: str | None = None
    lon: float | None = Field(default=None, ge=-180, le=180)
    lat: float | None = Field(default=None, ge=-90, le=90)
    analysis_interval: float = Field(
        default=2.0, ge=0.2, le=3600, description="Seconds between analysed frames (1 s … 10 min in practice)."
    )
    analysis_max_interval: float | None = Field(
        default=None, ge=0.2, le=3600,
        description="Looks may stretch up to this many seconds apart when the camera's GOP fits within it: then "
                    "only keyframes are decoded, one look per GOP (a GOP longer than analysis_interval otherwise "
                    "costs decoding most frames). Default: analysis_interval.",
    )
    enabled: bool = True
    ptz: PtzConfig | None = Field(default=None, description="Pan/tilt/zoom control (遥控), see below.")
    recording: RecordingPolicy | None = Field(default=None, description="Recording (录像): mode, event pre/post "
                                              "seconds, schedule, retention; unset keys: the group's, the site's.")

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not CAMERA_ID.match(value):
            raise ValueError("must be 1-64 characters of a-z, 0-9, '-' or '_', starting with a letter or digit")
        return value

    @field_validator("national_id")
    @classmethod
    def _national_id(cls, value: str | None) -> str | None:
        if value is not None and not NATIONAL_ID.match(value):
            raise ValueError("must be exactly 20 digits (GB/T 28181 device id)")
        return value

    @field_validator("url", "main_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return None if value is None else check_stream_url(value)

    @field_validator("grid_code")
    @classmethod
    def _grid_code(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        length = (info.context or {}).get("grid_code_length", DEFAULT_GRID_CODE_LENGTH)
        if not value.isdigit() or not value.isascii() or len(value) != length:
            raise ValueError(f"must be {length} digits (CJ/T 213 unit-grid code), got '{value}'")
        return value

    @model_validator(mode="after")
    def _position(self) -> CameraConfig:
        if (self.lon is None) != (self.lat is None):
            raise ValueError("lon and lat must be given together")
        if self.analysis_max_interval is not None and self.analysis_max_interval < self.analysis_interval:
            raise ValueError("analysis_max_interval must be at least analysis_interval")
        return self


Seconds = Annotated[float, Field(gt=0, le=3600)]


class StreamSettings(Strict):
    """Ingest tunables shared by every camera session. Defaults follow design.md's measurements."""

    open_timeout: Seconds = Field(default=10.0, description="Seconds to wait for a camera to answer OPTIONS/DESCRIBE.")
    read_timeout: Seconds = Field(default=5.0, description="Seconds without data before a read is a drop.")
    stall_after: Seconds = Field(default=3.0, description="Seconds without packets before a live camera is 'stalled'.")
    backoff_initial: Seconds = Field(default=1.0, description="First reconnect delay.")
    backoff_max: Seconds = Field(default=30.0, description="Cap of the exponential reconnect delay.")
    ring_seconds: Seconds = Field(default=60.0, description="Seconds of packets kept per camera for evidence clips.")
    ring_max_mb: float = Field(default=64.0, gt=0, le=4096, description="Memory cap of one camera's ring.")
    viewer_buffer_seconds: Seconds = Field(
        default=4.0, description="Video a slow viewer may fall behind before it is skipped to the next keyframe."
    )

    @model_validator(mode="after")
    def _backoff(self) -> StreamSettings:
        if self.backoff_max < self.backoff_initial:
            raise ValueError("backoff_max must be at least backoff_initial")
        return self
