"""``/api/ptz``: steering PTZ cameras (遥控) — continuous pan/tilt/zoom, stop, presets, home, and the lease.

Every rule lives in ``wall.ptz.service``: the ``ptz`` right (``Principal.may_control_ptz``; without it a camera
answers 404 exactly like one that does not exist), the one-operator lease (409 naming the holder; admins may take
over), the audit row of every command, and the pause of the camera's rules while it is off its analysis preset.
The page (``static/ptz.js``) renews a continuous move every two seconds while the pointer or key is held; the
camera stops by itself a few seconds after the last renewal, so a page that dies mid-drag leaves no camera turning.
Every route runs on the event loop (even the reads): the service's state is the loop's alone.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi import Path as PathParam
from pydantic import Field

from wall.access import current_principal
from wall.api.common import UNAUTHENTICATED, Answers, Closed, error
from wall.api.deps import Parts
from wall.auth.principal import Principal
from wall.ptz.driver import Preset, Velocity
from wall.ptz.models import PtzPositionOut, PtzState

router = APIRouter(prefix="/api/ptz", tags=["ptz"])
User = Annotated[Principal, Depends(current_principal)]
CameraId = Annotated[str, PathParam(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
PresetToken = Annotated[str, PathParam(min_length=1, max_length=64, pattern=r"^[^/\x00-\x1f\x7f]+$")]
MISSING: Answers = {**UNAUTHENTICATED, 404: error("camera not found (or no PTZ, or no ptz right)")}
COMMAND: Answers = {**MISSING, 409: error("another operator controls the camera, or the camera did not do it")}


class MoveIn(Closed):
    """A continuous move: each −1 … 1 of the camera's full speed; all zero is a stop."""

    pan: float = Field(default=0.0, ge=-1, le=1, description="+ right, − left")
    tilt: float = Field(default=0.0, ge=-1, le=1, description="+ up, − down")
    zoom: float = Field(default=0.0, ge=-1, le=1, description="+ in, − out")


class LeaseIn(Closed):
    take_over: bool = Field(default=False, description="Take the camera from the operator who holds it (admins).")


class PresetIn(Closed):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f\x7f]+$", description="The preset's name.")
    token: str | None = Field(default=None, min_length=1, max_length=64, pattern=r"^[^/\x00-\x1f\x7f]+$",
                              description="Store over this existing preset; absent: a new one.")


@router.get("", responses=UNAUTHENTICATED)
async def list_ptz(principal: User, parts: Parts) -> list[PtzState]:
    """The PTZ cameras the user may see or steer, with who controls each (the wall draws it on every tile)."""
    return await parts.ptz.states(principal)


@router.get("/{camera_id}", responses=MISSING)
async def ptz_state(camera_id: CameraId, principal: User, parts: Parts) -> PtzState:
    return await parts.ptz.state(principal, camera_id)


@router.post("/{camera_id}/lease", responses={**COMMAND, 403: error("a take-over by someone who is not an admin")})
async def take_lease(camera_id: CameraId, body: LeaseIn, principal: User, parts: Parts) -> PtzState:
    """Take control of the camera (renewed by every command; lapses after the camera's ``lease_seconds``)."""
    return await parts.ptz.take(principal, camera_id, take_over=body.take_over)


@router.delete("/{camera_id}/lease", responses=MISSING)
async def release_lease(camera_id: CameraId, principal: User, parts: Parts) -> PtzState:
    """Let go of the camera (nothing happens when the user did not hold it)."""
    return await parts.ptz.release(principal, camera_id)


@router.post("/{camera_id}/move", responses=COMMAND)
async def move(camera_id: CameraId, body: MoveIn, principal: User, parts: Parts) -> PtzState:
    """Start or change a continuous move; the camera stops by itself a few seconds after the last one."""
    return await parts.ptz.move(principal, camera_id, Velocity(pan=body.pan, tilt=body.tilt, zoom=body.zoom))


@router.post("/{camera_id}/stop", responses=COMMAND)
async def stop(camera_id: CameraId, principal: User, parts: Parts) -> PtzState:
    return await parts.ptz.stop(principal, camera_id)


@router.post("/{camera_id}/home", responses=COMMAND)
async def home(camera_id: CameraId, principal: User, parts: Parts) -> PtzState:
    return await parts.ptz.home(principal, camera_id)


@router.get("/{camera_id}/presets", responses={**MISSING, 409: error("the camera did not answer")})
async def presets(camera_id: CameraId, principal: User, parts: Parts) -> list[Preset]:
    return await parts.ptz.presets(principal, camera_id)


@router.post("/{camera_id}/presets", responses={**COMMAND, 403: error("only admins store presets")})
async def set_preset(camera_id: CameraId, body: PresetIn, principal: User, parts: Parts) -> Preset:
    """Store the camera's current position as a preset (admins)."""
    return await parts.ptz.set_preset(principal, camera_id, body.name, body.token)


@router.post("/{camera_id}/presets/{token}/goto", responses=COMMAND)
async def goto_preset(camera_id: CameraId, token: PresetToken, principal: User, parts: Parts) -> PtzState:
    return await parts.ptz.goto_preset(principal, camera_id, token)


@router.get("/{camera_id}/position", responses={**MISSING, 409: error("the camera did not answer")})
async def position(camera_id: CameraId, principal: User, parts: Parts) -> PtzPositionOut:
    return PtzPositionOut(camera_id=camera_id, position=await parts.ptz.position(principal, camera_id))
