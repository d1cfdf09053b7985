"""A wall as one user may see it — what ``/api/walls/…`` answers and what ``/ws/wall`` pushes.

Every display renders the same state, but each user gets their own copy: a tile whose camera they may not see
comes without the camera (``forbidden``), an alarm of such a camera is not shown, a tour lists only what they
may see. Models rather than dicts so that the routes declare them (``/openapi.json`` has the wall's schema) and
the pages' field names (``wall*.js``) are written down once; they become JSON only at the edge.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from wall.auth.principal import Principal
from wall.hall_settings import Layout
from wall.walls.machine import WallMachine
from wall.walls.state import TourOrder, WallState


class CellView(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    col: int
    row: int
    width: int
    height: int


class LayoutView(BaseModel):
    """A layout as the pages draw it: its grid, each tile's cell, the alarm tile. (Not :class:`Layout` itself:
    that checks a site's settings as they are read, and would check the answer again as it leaves.)"""

    model_config = ConfigDict(from_attributes=True)

    name: str
    title: str
    grid: str | None
    columns: int
    rows: int
    cells: list[CellView]
    alarm_tile: int | None

    @classmethod
    def of(cls, layout: Layout) -> LayoutView:
        return cls.model_validate(layout)


class TileView(BaseModel):
    index: int
    camera: str | None = Field(description="null: empty, or a camera the user may not see (then forbidden).")
    forbidden: bool
    pinned: bool = Field(description="Pinned tiles keep their camera through tours.")
    alarm: bool = Field(description="The alarm pop-up holds this tile.")


class TourView(BaseModel):
    cameras: list[str]
    group: str | None
    interval: int
    order: TourOrder
    paused: bool
    next_at: float = Field(description="When the next step comes (epoch seconds).")
    remaining: float | None = Field(description="Seconds left in the step while paused.")
    started_by: str
    tiles: list[int] = Field(description="The tiles the tour steps (not pinned, not the alarm's).")
    next_cameras: list[str] = Field(description="What the next step shows, for displays to connect early.")


class AlarmView(BaseModel):
    case_id: int
    camera: str
    camera_name: str
    code: str
    code_name: str
    family: str
    raised_at: float
    shown_at: float | None
    until: float | None = Field(description="When the tile reverts unless acknowledged (epoch seconds).")
    tile: int | None


class WallView(BaseModel):
    name: str = Field(description="'@me' for the user's own seat.")
    title: str
    seat: bool
    layout: LayoutView
    tiles: list[TileView]
    alarm_tile: int
    alarms: bool = Field(description="New cases pop up on this wall.")
    alarm_timeout: int
    tour: TourView | None
    alarm: AlarmView | None
    queued: int = Field(description="Alarms waiting behind the one on show (of cameras the user may see).")
    version: int
    updated_at: float
    updated_by: str
    may_control: bool
    now: float = Field(description="The server's time, for the page to count down tour steps and alarms.")


class WallSummary(BaseModel):
    name: str
    title: str
    layout: str
    seat: bool
    may_control: bool


class PresetSummary(BaseModel):
    name: str
    layout: str | None
    created_by: str
    created_at: str


class ControllerView(BaseModel):
    subject: str = Field(description="A user name, role:NAME or group:NAME (everyone the camera group is granted to).")
    source: str = Field(description="config: server.yaml names it (changed there); admin: set in the console.")
    created_by: str
    created_at: str


class WallControllersView(BaseModel):
    """Who controls a shared wall besides the admins (who control every wall)."""

    wall: str
    controllers: list[ControllerView]


class WallNotice(BaseModel):
    """Pushed over ``/ws/wall`` after every saved change of a wall, rendered for each connected user."""

    type: Literal["wall"] = "wall"
    wall: WallView


def shown_name(state: WallState) -> str:
    return "@me" if state.owner else state.name


def summary(state: WallState, controls: bool) -> WallSummary:
    """``controls``: whether the user may change it (:func:`wall.walls.rights.controls`)."""
    return WallSummary(name=shown_name(state), title=state.title, layout=state.layout, seat=state.owner is not None,
                       may_control=controls)


def render(machine: WallMachine, state: WallState, principal: Principal, now: float,
           controls: bool) -> WallView | None:
    """The wall as ``principal`` may see it; None if it is another user's seat. ``controls``: whether they may
    change it, decided by :mod:`wall.walls.rights` (the pages show or hide their controls by it)."""
    if state.owner is not None and state.owner != principal.name:
        return None
    may_view = principal.may_view
    shown = state.alarm if state.alarm and may_view(state.alarm.camera) else None
    tiles = []
    for i, camera in enumerate(state.tiles):
        visible = camera is not None and may_view(camera)
        tiles.append(TileView(index=i, camera=camera if visible else None, forbidden=camera is not None and not visible,
                              pinned=i in state.pinned, alarm=shown is not None and shown.tile == i))
    tour = None
    if state.tour is not None:
        t = state.tour
        tour = TourView(cameras=[c for c in t.cameras if may_view(c)], group=t.group, interval=t.interval,
                        order=t.order, paused=t.paused, next_at=t.next_at, remaining=t.remaining,
                        started_by=t.started_by, tiles=machine.tour_tiles(state),
                        next_cameras=[c for c in machine.peek(state) if may_view(c)])
    return WallView(
        name=shown_name(state), title=state.title, seat=state.owner is not None,
        layout=LayoutView.of(machine.layouts[state.layout]), tiles=tiles, alarm_tile=machine.alarm_tile(state),
        alarms=state.alarms, alarm_timeout=state.alarm_timeout, tour=tour,
        alarm=AlarmView.model_validate(shown.model_dump(exclude={"previous"})) if shown else None,
        queued=sum(1 for a in state.queue if may_view(a.camera)),
        version=state.version, updated_at=state.updated_at, updated_by=state.updated_by,
        may_control=controls, now=now,
    )
