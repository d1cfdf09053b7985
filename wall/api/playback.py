"""``/api/playback/{camera}``: recorded ranges and case marks, playback from a time (fMP4), export of a range.

Playback is a right of its own (``Principal.may_play_back``: a ``playback`` grant, or an admin): a user without
it gets 404 on every route here, exactly as for a camera that does not exist, so the answer never tells anyone
which cameras are recorded. Every export is audited; playback is audited once per user, camera and minute of
recorded time watched (``playback.view``: an inquiry asks "who looked at 14:05 on this camera", and a player
fetches a chunk every few seconds, so one row per request would drown the log).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.responses import FileResponse, StreamingResponse
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from streams.clip_h264 import h264_copy
from streams.playback import NothingRecorded, Playback, export
from streams.playback_h264 import PlaybackH264
from wall.access import NOT_FOUND, audit_action, current_principal
from wall.api.common import UNAUTHENTICATED, error
from wall.api.deps import Parts
from wall.auth.principal import Principal
from wall.recording.models import Timeline

router = APIRouter(prefix="/api/playback", tags=["playback"])
Viewer = Annotated[Principal, Depends(current_principal)]
MISSING = {**UNAUTHENTICATED, 404: error(NOT_FOUND)}
MAX_TIMELINE_SECONDS = 31 * 86400
MAX_CHUNK_SECONDS = 120.0
Time = Annotated[float, Query(ge=0, le=32503680000, description="Unix time (seconds).")]


def _camera(parts: Parts, principal: Principal, camera_id: str) -> str:
    """The camera, if the user may play it back; otherwise 404 like a camera that does not exist."""
    if parts.registry.get(camera_id) is None or not principal.may_play_back(camera_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, NOT_FOUND)
    return camera_id


def _audit_watch(request: Request, parts: Parts, principal: Principal, camera_id: str, at: float) -> None:
    minute = int(at // 60) * 60
    if parts.view_audit.due(principal.name, "playback.view", f"camera:{camera_id}@{minute}"):
        audit_action(request, principal, "playback.view", f"camera:{camera_id}", True, {"minute": minute})


@router.get("/{camera_id}/timeline", responses=MISSING)
async def timeline(camera_id: str, principal: Viewer, parts: Parts, start: Time, end: Time) -> Timeline:
    """Recorded ranges (segments without gaps, merged) and the camera's cases between ``start`` and ``end``."""
    _camera(parts, principal, camera_id)
    if end <= start or end - start > MAX_TIMELINE_SECONDS:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, f"end must be after start, at most "
                                                         f"{MAX_TIMELINE_SECONDS // 86400} days later")
    return await run_in_threadpool(parts.recordings.timeline, camera_id, start, end)


@router.get("/{camera_id}/video", response_class=StreamingResponse, responses={
    **MISSING, 200: {"content": {"video/mp4": {}}, "description": "Fragmented MP4 (init + fragments)."}})
async def video(camera_id: str, principal: Viewer, parts: Parts, request: Request, start: Time,
                seconds: Annotated[float, Query(gt=0, le=MAX_CHUNK_SECONDS)] = 30.0,
                align: Annotated[Literal["before", "after"], Query(description=(
                    "before: from the keyframe at or before start (a seek); after: from the first keyframe at or "
                    "after it (the next chunk, from the previous one's end)"))] = "before",
                codec: Annotated[Literal["h264"] | None, Query(description=(
                    "h264: an H.265 recording re-encoded to H.264 while it plays (a browser without H.265); an "
                    "H.264 one is sent as recorded"))] = None) -> StreamingResponse:
    """Recorded video from ``start`` as fragmented MP4 for MediaSource, ``seconds`` long (to the next keyframe).
    ``X-Start`` is the wall time of its first frame (media time 0), ``X-Mime`` the MediaSource type with the
    codec string, ``X-Fps`` the frame rate (a paused player steps by a frame); 404 when nothing is recorded from
    there on."""
    _camera(parts, principal, camera_id)
    plan = await run_in_threadpool(parts.recordings.plan, camera_id, start, start + seconds + 60, contiguous=True)
    try:
        sources = parts.recordings.sources(plan)
        chunk: Playback | PlaybackH264
        if codec == "h264" and plan.segments and plan.segments[0].codec != "h264":
            chunk = await run_in_threadpool(PlaybackH264, sources, start, seconds, align)
        else:
            chunk = await run_in_threadpool(Playback, sources, start, seconds, align)
    except NothingRecorded:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "nothing recorded at that time") from None
    await run_in_threadpool(_audit_watch, request, parts, principal, camera_id, chunk.first_wall)
    return StreamingResponse(iter(chunk), media_type="video/mp4", headers={
        "X-Start": f"{chunk.first_wall:.6f}", "X-Mime": chunk.mime, "X-Fps": f"{chunk.fps:g}",
        "Cache-Control": "no-store"})


@router.get("/{camera_id}/export.mp4", response_class=FileResponse, responses={
    **MISSING, 400: error("a bad range"), 200: {"content": {"video/mp4": {}}, "description": "One MP4."}})
def export_range(camera_id: str, principal: Viewer, parts: Parts, request: Request, start: Time, end: Time,
                 codec: Annotated[Literal["h264"] | None, Query(description=(
                     "h264: an H.265 recording re-encoded to H.264 (for a player without H.265); an H.264 one is "
                     "sent as recorded"))] = None) -> FileResponse:
    """[start, end] as one MP4 by stream copy (from the keyframe at or before ``start``). Audited."""
    _camera(parts, principal, camera_id)
    longest = parts.recordings.settings.max_export_seconds
    if end <= start or end - start > longest:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, f"end must be after start, at most {longest:.0f} s later")
    plan = parts.recordings.plan(camera_id, start, end, contiguous=False)
    work = Path(tempfile.mkdtemp(prefix="citywall-export-"))
    try:
        done = export(parts.recordings.sources(plan), start, end, work / f"{camera_id}.mp4")
        path = h264_copy(done.path, work / "h264") if codec == "h264" else done.path
    except NothingRecorded:
        shutil.rmtree(work, ignore_errors=True)
        raise HTTPException(status.HTTP_404_NOT_FOUND, "nothing recorded in that range") from None
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    audit_action(request, principal, "playback.export", f"camera:{camera_id}", True,
                 {"start": start, "end": end, "first": round(done.first_wall, 3), "frames": done.frames,
                  "codec": codec or done.codec, "left_out": plan.left_out})
    name = f"{camera_id}-{int(done.first_wall)}.mp4"
    return FileResponse(path, media_type="video/mp4", filename=name,
                        headers={"X-Start": f"{done.first_wall:.6f}", "Cache-Control": "no-store"},
                        background=BackgroundTask(shutil.rmtree, work, ignore_errors=True))
