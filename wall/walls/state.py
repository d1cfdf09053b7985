"""The state of one wall, as stored and as the transitions of :mod:`wall.walls.machine` change it.

A wall is server-side state so that every display of it (the hall's kiosk screens, operators' seat pages)
shows the same thing and a restart brings it back: layout, which camera each tile shows, pinned tiles (left out
of tours), the running tour, the alarm tile and the alarm on show with its queue. Times are epoch seconds.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

from pydantic import BaseModel, Field

from wall.hall_settings import (
    ALARM_TIMEOUT_DEFAULT_S,
    ALARM_TIMEOUT_MAX_S,
    ALARM_TIMEOUT_MIN_S,
    TOUR_DEFAULT_S,
    TOUR_MAX_S,
    TOUR_MIN_S,
)

SYSTEM = "system"  # who changed a wall when no user did (seeding, tour steps, alarms); a tour nobody started

TourOrder = Literal["sequential", "random"]


class Tour(BaseModel):
    """A tour (轮巡) steps the wall's unpinned tiles through a list of cameras, or a group's members."""

    cameras: list[str] = Field(default_factory=list)
    group: str | None = None
    interval: int = Field(default=TOUR_DEFAULT_S, ge=TOUR_MIN_S, le=TOUR_MAX_S)
    order: TourOrder = "sequential"
    paused: bool = False
    started_by: str = SYSTEM
    sequence: list[str] = Field(default_factory=list)  # this cycle's order (shuffled when random)
    position: int = 0  # index into sequence of the next camera to show
    next_at: float = 0.0
    remaining: float | None = None  # seconds left in the step when paused


class TourSource(NamedTuple):
    """Where a tour's cameras come from: its own list or a group, seen with its starter's grants. The service
    resolves a source to cameras from the database *before* it takes the wall lock; the transitions look the
    answer up by this key."""

    cameras: tuple[str, ...]
    group: str | None
    started_by: str

    @classmethod
    def of(cls, tour: Tour) -> TourSource:
        return cls(tuple(tour.cameras), tour.group, tour.started_by)


class Alarm(BaseModel):
    """A raised case on show (or waiting) on a wall's alarm tile."""

    case_id: int
    camera: str
    camera_name: str = ""
    code: str = ""
    code_name: str = ""
    family: str = ""
    raised_at: float = 0.0
    shown_at: float | None = None
    until: float | None = None
    tile: int | None = None
    previous: str | None = None  # what the tile showed before the alarm took it


class WallState(BaseModel):
    name: str
    title: str = ""
    owner: str | None = None  # a user's own seat wall, else shared
    layout: str = "2x2"
    tiles: list[str | None] = Field(default_factory=list)
    pinned: list[int] = Field(default_factory=list)
    alarm_tile: int | None = None  # None: the layout's alarm tile
    alarms: bool = True  # does a new case pop up here?
    alarm_timeout: int = Field(default=ALARM_TIMEOUT_DEFAULT_S, ge=ALARM_TIMEOUT_MIN_S, le=ALARM_TIMEOUT_MAX_S)
    tour: Tour | None = None
    alarm: Alarm | None = None
    queue: list[Alarm] = Field(default_factory=list)
    version: int = 0
    updated_at: float = 0.0
    updated_by: str = SYSTEM


class TourSettings(BaseModel):
    """A tour as a preset keeps it: what to step through and how, not where it has got to."""

    cameras: list[str] = Field(default_factory=list)
    group: str | None = None
    interval: int = TOUR_DEFAULT_S
    order: TourOrder = "sequential"


class Arrangement(BaseModel):
    """What a preset (预案) keeps: the arrangement, not the alarm on show or the tour's progress. Stored as JSON in
    ``wall_presets.state``; recalling it checks every index against the layout of the day."""

    layout: str = ""
    tiles: list[str | None] = Field(default_factory=list)
    pinned: list[int] = Field(default_factory=list)
    alarm_tile: int | None = None
    tour: TourSettings | None = None
