"""Zones and rules per camera, as a site writes them in YAML (``analytics.yaml`` or a replay's camera file).

Polygons are normalised to 0–1 of the picture so a zone survives a change between main and sub stream or a new
resolution. Every threshold an operator might argue about (dwell, grace, schedule, N-of-M, alarm interval, box
size, score) is a per-zone setting, because deployments differ (domain.md §5).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, field_validator, model_validator

from settings.model import Strict

Family = Literal["street_stall", "road_occupation", "garbage"]
FAMILIES: tuple[Family, ...] = ("street_stall", "road_occupation", "garbage")
DEFAULT_CODES: dict[str, str] = {"street_stall": "0501", "road_occupation": "0507", "garbage": "0102"}
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# Bounds of every list and mapping (a site's file and the console's proposals alike): far above any real
# camera's, and small enough that nothing read from them costs time — a class_map of 100,000 entries made every
# later rules read take 9 s.
MAX_ZONES = 50
MAX_POINTS = 100
MAX_CLASSES = 200
MAX_CAMERAS = 20000
ClassName = Annotated[str, StringConstraints(min_length=1, max_length=64)]
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


class TimeRange(Strict):
    """Active weekdays and a daily window; ``end`` before ``start`` spans midnight (e.g. a night market)."""

    days: list[Weekday] = Field(default_factory=lambda: list(WEEKDAYS), max_length=7)
    start: str = Field(default="00:00", description="HH:MM, local time")
    end: str = Field(default="24:00", description="HH:MM, local time; 24:00 = end of day")

    @field_validator("start", "end")
    @classmethod
    def _hhmm(cls, value: str) -> str:
        if value != "24:00" and not _HHMM.match(value):
            raise ValueError(f"'{value}' is not a time like 07:30")
        return value

    def _minutes(self, value: str) -> int:
        if value == "24:00":
            return 24 * 60
        hh, mm = value.split(":")
        return int(hh) * 60 + int(mm)

    def contains(self, when: datetime) -> bool:
        start, end = self._minutes(self.start), self._minutes(self.end)
        minute = when.hour * 60 + when.minute
        day = WEEKDAYS[when.weekday()]
        if start < end:
            return day in self.days and start <= minute < end
        # Overnight (or a full 24 h when start == end): the part after midnight belongs to the previous day.
        if minute >= start:
            return day in self.days
        yesterday = WEEKDAYS[(when.weekday() - 1) % 7]
        return minute < end and yesterday in self.days


class Confirm(Strict):
    """N hits in the last M looks before an alarm: one bad frame neither raises nor clears anything."""

    hits: int = Field(default=3, ge=1, le=100)
    looks: int = Field(default=5, ge=1, le=100)

    @model_validator(mode="after")
    def _order(self) -> Confirm:
        if self.hits > self.looks:
            raise ValueError("hits must not exceed looks")
        return self


class StaticChangeSettings(Strict):
    """The garbage detector for scenes no class covers: what differs from the learned empty background and stays."""

    threshold: int = Field(default=28, ge=5, le=200, description="Grey-level difference that counts as changed.")
    min_area: float = Field(default=0.0015, gt=0, lt=0.5, description="Smallest blob, as a fraction of the frame.")
    learn_rate: float = Field(default=0.05, gt=0, le=1, description="Background update per look where unchanged.")


class ZoneConfig(Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    name: str = Field(default="", max_length=120)
    polygon: list[tuple[float, float]] = Field(min_length=3, max_length=MAX_POINTS,
                                               description="Points (x, y) in 0–1 of the picture.")
    family: Family
    code: str | None = Field(default=None, description="Event code; default 0501 / 0507 / 0102 by family.")
    classes: list[ClassName] | None = Field(default=None, max_length=MAX_CLASSES,
                                                 description="Detector classes for this zone (default: card).")
    dwell_seconds: float = Field(default=180, ge=0, le=86400)
    grace_seconds: float = Field(default=10, ge=0, le=3600, description="Absence tolerated without resetting.")
    clear_after_seconds: float = Field(default=30, ge=0, le=86400, description="Absence that ends an event.")
    alarm_interval_seconds: float = Field(default=600, ge=0, le=7 * 86400, description="No repeat at a place.")
    schedule: list[TimeRange] = Field(default_factory=list, max_length=20, description="Empty: always active.")
    confirm: Confirm = Field(default_factory=Confirm)
    min_score: float = Field(default=0.3, ge=0, le=1)
    min_box: float = Field(default=0.0005, ge=0, le=1, description="Smallest box area, fraction of the frame.")
    max_box: float = Field(default=0.6, gt=0, le=1, description="Largest box area, fraction of the frame.")
    cell: float = Field(default=0.08, gt=0.005, le=1, description="Place size, fraction of the frame width.")
    trigger: Literal["bottom_center", "center"] = "bottom_center"
    linger_distance: float = Field(
        default=1.5, gt=0, le=20, description="street_stall: a person within this many object sizes lingers."
    )
    require_object: bool = Field(default=True, description="street_stall: need a stall-like object, not a person only.")
    static_change: StaticChangeSettings = Field(default_factory=StaticChangeSettings)

    @field_validator("polygon")
    @classmethod
    def _polygon(cls, points: list[tuple[float, float]]) -> list[tuple[float, float]]:
        for x, y in points:
            if not (0 <= x <= 1 and 0 <= y <= 1):
                raise ValueError(f"point ({x}, {y}) is outside 0–1 (polygons are fractions of the picture)")
        pairs = zip(points, points[1:] + points[:1], strict=True)
        area = 0.5 * abs(sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in pairs))
        if area < 1e-4:
            raise ValueError("polygon has no area")
        return points

    @model_validator(mode="after")
    def _consistent(self) -> ZoneConfig:
        if self.min_box >= self.max_box:
            raise ValueError("min_box must be smaller than max_box")
        if self.clear_after_seconds < self.grace_seconds:
            raise ValueError("clear_after_seconds must be at least grace_seconds")
        if self.code is None:
            self.code = DEFAULT_CODES[self.family]
        return self

    def active(self, when: datetime) -> bool:
        return not self.schedule or any(r.contains(when) for r in self.schedule)


class DetectorGateSettings(Strict):
    """Skip the detector on looks where nothing in the zones changed since it last ran (vision/change_gate.py).

    The skipped look reuses the last detections with its own time, so dwell keeps counting; a change in a zone
    brings the detector back at once, and it runs at least every ``refresh_seconds`` regardless.
    """

    enabled: bool = Field(default=True, description="Off: the detector runs on every look.")
    pixel_threshold: float = Field(
        default=12, ge=1, le=255,
        description="Grey-level change of a 64×36 thumbnail pixel (an average of ~10×10 frame pixels) that counts.",
    )
    min_changed_pixels: int = Field(
        default=2, ge=1, le=2304, description="Changed thumbnail pixels in or next to a zone that make a change.",
    )
    refresh_seconds: float = Field(
        default=10, ge=0, le=3600, description="Longest time between two real detections; 0 detects every look.",
    )


class CameraRules(Strict):
    """One camera's analytics: its zones, and how this camera's view renames detector classes."""

    zones: list[ZoneConfig] = Field(default_factory=list, max_length=MAX_ZONES)
    class_map: dict[ClassName, ClassName] = Field(
        default_factory=dict, max_length=MAX_CLASSES,
        description="Rename classes for this view, e.g. top-down cars seen as 'cell phone'."
    )
    ptz_guard: bool = Field(default=True, description="Pause rules when the scene changes (PTZ moved).")
    detector_gate: DetectorGateSettings = Field(default_factory=DetectorGateSettings)

    @model_validator(mode="after")
    def _unique(self) -> CameraRules:
        seen: set[str] = set()
        for zone in self.zones:
            if zone.id in seen:
                raise ValueError(f"duplicate zone id '{zone.id}'")
            seen.add(zone.id)
        return self


class AnalyticsFile(Strict):
    """``analytics.yaml`` of a site: the model card and each camera's rules."""

    model: str | None = Field(default=None, description="Model card path, relative to the config directory.")
    cameras: dict[str, CameraRules] = Field(default_factory=dict, max_length=MAX_CAMERAS)

