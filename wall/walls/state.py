"""The state of one wall, as stored and as pushed to its displays.

A wall is server-side state so that every display of it (the hall's kiosk screens, operators' seat pages)
shows the same thing and a restart brings it back: layout, which camera each tile shows, pinned tiles (left out
of tours), the running tour, the alarm tile and the alarm on show with its queue. Times are epoch seconds.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from streams.config import Strict

TOUR_MIN_S, TOUR_MAX_S, TOUR_DEFAULT_S = 5, 300, 30
ALARM_TIMEOUT_DEFAULT_S = 120
ALARM_QUEUE_LIMIT = 50


class Tour(BaseModel):
    """A tour (轮巡) steps the wall's unpinned tiles through a list of cameras, or a group's members."""

    cameras: list[str] = Field(default_factory=list)
    group: str | None = None
    interval: int = Field(default=TOUR_DEFAULT_S, ge=TOUR_MIN_S, le=TOUR_MAX_S)
    order: Literal["sequential", "random"] = "sequential"
    paused: bool = False
    started_by: str = "system"
    sequence: list[str] = Field(default_factory=list)  # this cycle's order (shuffled when random)
    position: int = 0  # index into sequence of the next camera to show
    next_at: float = 0.0
    remaining: float | None = None  # seconds left in the step when paused


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
    alarm_timeout: int = Field(default=ALARM_TIMEOUT_DEFAULT_S, ge=10, le=3600)
    tour: Tour | None = None
    alarm: Alarm | None = None
    queue: list[Alarm] = Field(default_factory=list)
    version: int = 0
    updated_at: float = 0.0
    updated_by: str = "system"


class WallSpec(Strict):
    """A shared wall seeded from server.yaml ``walls:`` (created at first start; later changes live in the
    database, so what operators set on the wall survives restarts)."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$", description="Used in /wall/NAME.")
    title: str = Field(default="", max_length=60, description="Shown on the page; default: the name.")
    layout: str = Field(default="2x2", description="A built-in layout or one from layouts:.")
    cameras: list[str] = Field(default_factory=list, description="Initial tiles, in order.")
    alarms: bool = Field(default=True, description="New cases pop up on this wall's alarm tile.")
    alarm_tile: int | None = Field(default=None, ge=0, description="Tile for the alarm; default: the layout's.")
    alarm_timeout: int = Field(default=ALARM_TIMEOUT_DEFAULT_S, ge=10, le=3600,
                               description="Seconds an unacknowledged alarm stays before the tile reverts.")
    tour: TourSpec | None = Field(default=None, description="A tour that runs from the first start.")


class TourSpec(Strict):
    cameras: list[str] = Field(default_factory=list, description="Cameras to step through (or group).")
    group: str | None = Field(default=None, description="A camera group whose members the tour steps through.")
    interval: int = Field(default=TOUR_DEFAULT_S, ge=TOUR_MIN_S, le=TOUR_MAX_S, description="Seconds per step.")
    order: Literal["sequential", "random"] = "sequential"


WallSpec.model_rebuild()


def preset_of(state: WallState) -> dict[str, Any]:
    """What a preset (预案) keeps: the arrangement, not the alarm on show or the tour's progress."""
    tour = None
    if state.tour is not None:
        tour = {"cameras": state.tour.cameras, "group": state.tour.group, "interval": state.tour.interval,
                "order": state.tour.order}
    return {"layout": state.layout, "tiles": state.tiles, "pinned": state.pinned, "alarm_tile": state.alarm_tile,
            "tour": tour}
