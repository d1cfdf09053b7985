"""``/api/layouts``, ``/api/walls/…``, ``/api/camera-groups``: the wall as operators and the hall's displays use it.

Any signed-in user may watch a shared wall (its tiles of cameras they may not see come without the camera);
admins and the wall's controllers change it, recall and keep its presets (:mod:`wall.walls.rights`); a seat
(``@me``) belongs to its user alone. Admins create and delete shared walls and set their controllers. Every
change (and every refused one) is audited by :class:`wall.walls.service.WallService` with the new state; its
refusals are :mod:`wall.errors` kinds, answered by the one handler in :mod:`wall.api.errors`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, status
from fastapi.responses import Response
from pydantic import AfterValidator, BaseModel, Field
from sqlalchemy import select

from wall.access import current_principal, require
from wall.api.common import Closed, error
from wall.api.deps import Parts
from wall.auth import grants
from wall.auth.principal import Permission, Principal
from wall.hall_settings import (
    ALARM_TIMEOUT_DEFAULT_S,
    ALARM_TIMEOUT_MAX_S,
    ALARM_TIMEOUT_MIN_S,
    MAX_CONTROLLERS,
    TOUR_DEFAULT_S,
    TOUR_MAX_S,
    TOUR_MIN_S,
    WALL_NAME,
    WallSpec,
    check_controller,
)
from wall.store.accounts import CameraGroup
from wall.walls.machine import KEEP
from wall.walls.service import WallService
from wall.walls.views import LayoutView, PresetSummary, WallControllersView, WallSummary, WallView

router = APIRouter(prefix="/api", tags=["walls"])
Viewer = Annotated[Principal, Depends(current_principal)]
Admin = Annotated[Principal, Depends(require(Permission.ADMINISTER))]
WallName = Annotated[str, Path(pattern=r"^(@me|[a-z0-9][a-z0-9_-]{0,31})$")]
SharedWallName = Annotated[str, Path(pattern=WALL_NAME)]


def _controller(text: str) -> str:
    check_controller(text)  # a ValueError with the reason: a 422 like any invalid field
    return text


ControllerText = Annotated[str, Field(min_length=1, max_length=80, description=(
    "A user name, role:operator or group:NAME (those the camera group is granted to).")), AfterValidator(_controller)]
PresetName = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[^/\x00-\x1f]+$")]
TileIndex = Annotated[int, Path(ge=0, le=63)]
CameraId = Annotated[str, Field(min_length=1, max_length=64)]
AlarmTimeout = Annotated[int, Field(ge=ALARM_TIMEOUT_MIN_S, le=ALARM_TIMEOUT_MAX_S)]
ANSWERS: dict[int | str, dict[str, Any]] = {403: error("may watch, not change (not a controller of the wall)"),
                                            404: error("no such wall, tile, camera or preset"),
                                            409: error("not in a state for this"),
                                            422: {"description": "invalid input, or a tour with no camera"}}


class TileIn(Closed):
    camera: CameraId | None = Field(default=None, description="The camera to show; null empties the tile.")
    pinned: bool | None = Field(default=None, description="Pinned tiles keep their camera through tours.")


class LayoutIn(Closed):
    layout: str = Field(min_length=1, max_length=16)


class OptionsIn(Closed):
    title: str | None = Field(default=None, min_length=1, max_length=60)
    alarms: bool | None = None
    alarm_tile: int | None = Field(default=None, ge=0, le=63, description="null: the layout's own alarm tile")
    alarm_timeout: AlarmTimeout | None = None


class TourIn(Closed):
    cameras: list[CameraId] = Field(default_factory=list, max_length=500)
    group: str | None = Field(default=None, min_length=1, max_length=64)
    interval: int = Field(default=TOUR_DEFAULT_S, ge=TOUR_MIN_S, le=TOUR_MAX_S)
    order: Literal["sequential", "random"] = "sequential"


class PresetIn(Closed):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[^/\x00-\x1f]+$")


class CopyIn(Closed):
    source: str = Field(default="@me", pattern=r"^(@me|[a-z0-9][a-z0-9_-]{0,31})$")


class WallIn(Closed):
    name: str = Field(pattern=WALL_NAME)
    title: str = Field(default="", max_length=60)
    layout: str = Field(default="2x2", min_length=1, max_length=16)
    cameras: list[CameraId] = Field(default_factory=list, max_length=64)
    alarms: bool = True
    alarm_timeout: AlarmTimeout = ALARM_TIMEOUT_DEFAULT_S
    controllers: list[ControllerText] = Field(default_factory=list, max_length=MAX_CONTROLLERS,
                                              description="Who may change it besides the admins.")


class ControllersIn(Closed):
    controllers: list[ControllerText] = Field(max_length=MAX_CONTROLLERS, description=(
        "The admins' controllers of the wall, replacing the ones set before; those server.yaml names stay."))


class CameraGroupView(BaseModel):
    name: str
    cameras: list[str] = Field(description="The members this user may see.")


def walls_of(parts: Parts) -> WallService:
    return parts.walls


Walls = Annotated[WallService, Depends(walls_of)]


@router.get("/layouts")
def list_layouts(principal: Viewer, walls: Walls) -> list[LayoutView]:
    """Every layout the site offers (built-in and its own), with its grid and alarm tile."""
    return [LayoutView.of(layout) for layout in walls.machine.layouts.values()]


@router.get("/camera-groups")
def camera_groups(principal: Viewer, parts: Parts) -> list[CameraGroupView]:
    """Camera groups with the members this user may see (groups with none are left out) — for the camera picker
    and tours."""
    with parts.db.session() as s:
        out = []
        for group in s.scalars(select(CameraGroup).order_by(CameraGroup.name)):
            members = [c for c in grants.group_members(s, group) if principal.may_view(c)]
            if members:
                out.append(CameraGroupView(name=group.name, cameras=members))
        return out


@router.get("/walls")
def list_walls(principal: Viewer, walls: Walls) -> list[WallSummary]:
    """The shared walls and the user's own seat (``@me``)."""
    return walls.list_for(principal)


@router.post("/walls", status_code=status.HTTP_201_CREATED, responses=ANSWERS)
def create_wall(body: WallIn, admin: Admin, walls: Walls) -> WallView:
    spec = WallSpec(name=body.name, title=body.title, layout=body.layout, cameras=body.cameras, alarms=body.alarms,
                    alarm_timeout=body.alarm_timeout, controllers=body.controllers)
    return walls.create(admin, spec)


@router.get("/walls/{name}/controllers", responses=ANSWERS)
def wall_controllers(name: SharedWallName, admin: Admin, walls: Walls) -> WallControllersView:
    """Who controls a shared wall besides the admins (who control every wall): from server.yaml and the admins."""
    return walls.controllers_of(name)


@router.put("/walls/{name}/controllers", responses=ANSWERS)
def set_wall_controllers(name: SharedWallName, body: ControllersIn, admin: Admin, walls: Walls) -> WallControllersView:
    """Set the admins' controllers of a shared wall (users and groups must exist; viewers never control)."""
    return walls.set_controllers(admin, name, body.controllers)


@router.delete("/walls/{name}", status_code=status.HTTP_204_NO_CONTENT, responses=ANSWERS)
def delete_wall(name: WallName, admin: Admin, walls: Walls) -> Response:
    walls.delete(admin, name)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/walls/{name}", responses=ANSWERS)
def get_wall(name: WallName, principal: Viewer, walls: Walls) -> WallView:
    return walls.view(name, principal)


@router.patch("/walls/{name}", responses=ANSWERS)
def set_options(name: WallName, body: OptionsIn, principal: Viewer, walls: Walls) -> WallView:
    tile = body.alarm_tile if "alarm_tile" in body.model_fields_set else KEEP
    return walls.set_options(name, principal, title=body.title, alarms=body.alarms, alarm_tile=tile,
                             alarm_timeout=body.alarm_timeout)


@router.put("/walls/{name}/layout", responses=ANSWERS)
def set_layout(name: WallName, body: LayoutIn, principal: Viewer, walls: Walls) -> WallView:
    return walls.set_layout(name, principal, body.layout)


@router.put("/walls/{name}/tiles/{index}", responses=ANSWERS)
def set_tile(name: WallName, index: TileIndex, body: TileIn, principal: Viewer, walls: Walls) -> WallView:
    """Show a camera on a tile (or empty it), and pin or unpin the tile."""
    return walls.set_tile(name, principal, index, body.camera, body.pinned)


@router.post("/walls/{name}/push", responses=ANSWERS)
def push_to_wall(name: WallName, body: CopyIn, principal: Viewer, walls: Walls) -> WallView:
    """Show another wall's arrangement (by default the user's seat) on this one: 坐席推大屏."""
    return walls.copy_from(name, principal, body.source)


@router.post("/walls/{name}/tour", responses=ANSWERS)
def start_tour(name: WallName, body: TourIn, principal: Viewer, walls: Walls) -> WallView:
    """Start (or replace) the wall's tour over a list of cameras or a camera group."""
    return walls.start_tour(name, principal, cameras=body.cameras, group=body.group, interval=body.interval,
                            order=body.order)


@router.delete("/walls/{name}/tour", responses=ANSWERS)
def stop_tour(name: WallName, principal: Viewer, walls: Walls) -> WallView:
    return walls.stop_tour(name, principal)


@router.post("/walls/{name}/tour/pause", responses=ANSWERS)
def pause_tour(name: WallName, principal: Viewer, walls: Walls) -> WallView:
    return walls.pause_tour(name, principal, True)


@router.post("/walls/{name}/tour/resume", responses=ANSWERS)
def resume_tour(name: WallName, principal: Viewer, walls: Walls) -> WallView:
    return walls.pause_tour(name, principal, False)


@router.post("/walls/{name}/alarm/ack", responses=ANSWERS)
def acknowledge_alarm(name: WallName, principal: Viewer, walls: Walls) -> WallView:
    """The operator has seen the alarm: the tile reverts and the next queued alarm (if any) shows."""
    return walls.acknowledge(name, principal)


@router.get("/walls/{name}/presets", responses=ANSWERS)
def list_presets(name: WallName, principal: Viewer, walls: Walls) -> list[PresetSummary]:
    return walls.presets(name, principal)


@router.post("/walls/{name}/presets", status_code=status.HTTP_201_CREATED, responses=ANSWERS)
def save_preset(name: WallName, body: PresetIn, principal: Viewer, walls: Walls) -> WallView:
    """Save the wall's arrangement (layout, tiles, pins, alarm tile, tour settings) under a name (预案)."""
    return walls.save_preset(name, principal, body.name)


@router.post("/walls/{name}/presets/{preset}/recall", responses=ANSWERS)
def recall_preset(name: WallName, preset: PresetName, principal: Viewer, walls: Walls) -> WallView:
    return walls.recall_preset(name, principal, preset)


@router.delete("/walls/{name}/presets/{preset}", responses=ANSWERS)
def delete_preset(name: WallName, preset: PresetName, principal: Viewer, walls: Walls) -> WallView:
    return walls.delete_preset(name, principal, preset)
