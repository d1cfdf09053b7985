"""``/api/cameras``: the cameras a user may see, their health, a still and the analytics overlay.

What a camera *is* (name, address, grid code) comes from the registry; how it is *doing* (state, fps,
viewers, analysed) from the runtime. A camera the user may not see answers exactly like one that does not
exist (404), and no answer ever carries a URL: they hold credentials of the police network.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.responses import Response
from pydantic import BaseModel, Field

from streams.config import CameraConfig
from wall.access import NOT_FOUND, current_principal
from wall.api.common import UNAUTHENTICATED, error
from wall.api.deps import Parts
from wall.api.viewing import audit_view_async
from wall.auth.principal import Principal
from wall.runtime.models import CameraStatus, Overlay

router = APIRouter(prefix="/api/cameras", tags=["cameras"])
Viewer = Annotated[Principal, Depends(current_principal)]
MISSING = {**UNAUTHENTICATED, 404: error(NOT_FOUND)}


class CameraOut(BaseModel):
    """What a client may know of a camera: never its URLs (they carry credentials of the police network)."""

    id: str
    name: str
    national_id: str | None
    group: str | None
    grid_code: str | None
    street: str | None
    community: str | None
    address: str | None
    lon: float | None
    lat: float | None
    has_main_stream: bool
    state: str
    since: float
    last_error: str | None
    last_error_kind: str | None
    fps: float | None
    bitrate_kbps: float | None
    gop_seconds: float | None
    reconnects: int
    codec: str | None
    profile: str | None
    width: int | None
    height: int | None
    viewers: int
    analysed: bool
    scene_moved: bool  # PTZ guard: the view left its preset, rules paused
    node: str | None = Field(None, description="Cluster mode: the Ray node running the camera (the first 8 "
                             "characters of its id); null on one box or while the camera waits for a worker.")
    node_ip: str | None = Field(None, description="Cluster mode: that node's address.")
    worker: str | None = Field(None, description="Cluster mode: the camera worker that owns the camera.")
    recording: str | None = Field(None, description="Its recorder: idle, recording or failing (a full disk, "
                                  "failing writes); null when the camera does not record.")
    recording_error: str | None = Field(None, description="The recorder's last write error, if any.")


def camera_out(cam: CameraConfig, running: CameraStatus) -> CameraOut:
    h, placed = running.health, running.placement
    return CameraOut(
        id=cam.id, name=cam.name, national_id=cam.national_id, group=cam.group, grid_code=cam.grid_code,
        street=cam.street, community=cam.community, address=cam.address, lon=cam.lon, lat=cam.lat,
        has_main_stream=cam.main_url is not None, viewers=running.viewers, analysed=running.analysed,
        scene_moved=running.scene_moved, state=h.state, since=h.since, last_error=h.last_error,
        last_error_kind=h.last_error_kind, fps=h.fps, bitrate_kbps=h.bitrate_kbps, gop_seconds=h.gop_seconds,
        reconnects=h.reconnects, codec=h.codec, profile=h.profile, width=h.width, height=h.height,
        node=placed.node_id[:8] if placed else None, node_ip=placed.node_ip if placed else None,
        worker=placed.worker if placed else None,
        recording=running.recording.state if running.recording else None,
        recording_error=running.recording.last_error if running.recording else None,
    )


async def _visible(parts: Parts, principal: Principal, camera_id: str) -> tuple[CameraConfig, CameraStatus]:
    cam = parts.registry.get(camera_id)
    running = await parts.runtime.status(camera_id) if cam is not None and principal.may_view(camera_id) else None
    if cam is None or running is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, NOT_FOUND)
    return cam, running


@router.get("", responses=UNAUTHENTICATED)
async def list_cameras(principal: Viewer, parts: Parts) -> list[CameraOut]:
    """Every running camera the user may see, with its health."""
    out = []
    for running in await parts.runtime.statuses():
        cam = parts.registry.get(running.id)
        if cam is not None and principal.may_view(running.id):
            out.append(camera_out(cam, running))
    return out


@router.get("/{camera_id}", responses=MISSING)
async def get_camera(camera_id: str, principal: Viewer, parts: Parts) -> CameraOut:
    return camera_out(*await _visible(parts, principal, camera_id))


@router.get(
    "/{camera_id}/snapshot.jpg",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}}, **MISSING,
               204: {"description": "no picture from this camera yet"}},
)
async def snapshot(camera_id: str, principal: Viewer, parts: Parts, request: Request,
                   width: Annotated[int | None, Query(ge=16, le=3840)] = None) -> Response:
    """Newest keyframe as JPEG: the tile's fallback when the browser cannot play the camera's codec. Audited
    (``camera.snapshot``) once per user and camera per few minutes, not per poll (wall/view_audit.py)."""
    await _visible(parts, principal, camera_id)
    data = await parts.runtime.snapshot(camera_id, width)
    if data is None:
        return Response(status_code=status.HTTP_204_NO_CONTENT)
    await audit_view_async(request, principal, "camera.snapshot", f"camera:{camera_id}")
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "no-store"})


@router.get("/{camera_id}/overlay", responses=MISSING)
async def overlay(camera_id: str, principal: Viewer, parts: Parts) -> Overlay:
    """The camera's zones and latest detections in 0–1 of the picture, for the wall's optional overlay."""
    await _visible(parts, principal, camera_id)
    return await parts.runtime.overlay(camera_id)
