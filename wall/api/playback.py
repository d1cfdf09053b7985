"""``/api/playback/{camera}``: recorded ranges and case marks, playback from a time (fMP4), export of a range.

Playback is a right of its own (``Principal.may_play_back``: a ``playback`` grant, or an admin): a user without
it gets 404 on every route here, exactly as for a camera that does not exist, so the answer never tells anyone
which cameras are recorded. Every export is audited; playback is audited once per user, camera and minute of
recorded time watched (``playback.view``: an inquiry asks "who looked at 14:05 on this camera", and a player
fetches a chunk every few seconds, so one row per request would drown the log).

视频立案 from a paused playback (``/filing``, ``/still.jpg``, ``POST /api/playback/cases``) needs the playback
right (404 without, as everywhere here) and the right to decide cases (403); the case is filed by
``CaseFiler.file`` like one from the live view, its still and clip taken from the recording
(``wall.recording.filing``), and audited as ``case_file`` with ``origin: playback``.

An H.265 recording played or exported as H.264 (``codec=h264``) is re-encoded here, each under one of the box's
``recording.max_transcodes`` slots (``wall.recording.transcodes``: why a cap of its own); past it the answer is
503 with Retry-After, and the slot of a playback chunk is given back when its response ends however it ends; an
export's re-encode is stopped when its client goes away (``_unless_gone``), so its slot is back within a frame.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Literal, TypeVar

import anyio
from anyio import CancelScope
from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status
from fastapi.responses import FileResponse, StreamingResponse
from pydantic import Field
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.types import Receive, Scope, Send

from streams.export_h264 import ExportStopped, export_h264
from streams.playback import NothingRecorded, Playback, export
from streams.playback_h264 import PlaybackH264
from wall.access import NOT_FOUND, audit_action, audit_refusal, current_principal
from wall.api.cases import FilingFields, require_decider
from wall.api.common import UNAUTHENTICATED, Answers, error, invalid
from wall.api.deps import Parts
from wall.auth.principal import Principal
from wall.cases.filing import LOCATION, Taken
from wall.cases.models import CaseSummary, FilingDefaults
from wall.errors import DomainError
from wall.recording.filing import RecordedMoments
from wall.recording.models import PlaybackPlan, Timeline
from wall.recording.transcodes import RETRY_AFTER_SECONDS, TranscodesFull, TranscodeSlot

router = APIRouter(prefix="/api/playback", tags=["playback"])
Viewer = Annotated[Principal, Depends(current_principal)]
MISSING = {**UNAUTHENTICATED, 404: error(NOT_FOUND)}
MAX_TIMELINE_SECONDS = 31 * 86400
MAX_CHUNK_SECONDS = 120.0
Time = Annotated[float, Query(ge=0, le=32503680000, description="Unix time (seconds).")]
BUSY: Answers = {503: {**error("as many recordings are re-encoded to H.264 as recording.max_transcodes allows; "
                               "try again after Retry-After seconds"),
                       "headers": {"Retry-After": {"schema": {"type": "integer"}}}}}
CLIENT_GONE = 499  # what the access log shows for an export whose client went away (nginx's code for it)
T = TypeVar("T")
log = logging.getLogger(__name__)


def _camera(parts: Parts, principal: Principal, camera_id: str) -> str:
    """The camera, if the user may play it back; otherwise 404 like a camera that does not exist."""
    if parts.registry.get(camera_id) is None or not principal.may_play_back(camera_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, NOT_FOUND)
    return camera_id


def _transcode_slot(parts: Parts, plan: PlaybackPlan, codec: str | None, camera_id: str) -> TranscodeSlot | None:
    """A slot when ``codec=h264`` asks for a re-encode (an H.264 recording is sent as it is: no slot); 503 with
    Retry-After past ``recording.max_transcodes``."""
    if codec != "h264" or not plan.segments or plan.segments[0].codec == "h264":
        return None
    try:
        return parts.recordings.transcodes.acquire()
    except TranscodesFull as exc:
        log.warning("H.264 of camera %s's recording refused: %s", camera_id, exc, extra={"camera": camera_id})
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc),
                            headers={"Retry-After": str(RETRY_AFTER_SECONDS)}) from None


class ChunkResponse(StreamingResponse):
    """A playback chunk's body, sent as it is made (on worker threads). However the response ends — the body
    sent, the client gone (Starlette cancels the body on ``http.disconnect``) or an error — the chunk is closed
    (its decoder, encoder and segment files) and its transcode slot given back, at once and not whenever the
    generator happens to be collected."""

    def __init__(self, chunk: Playback, slot: TranscodeSlot | None, headers: dict[str, str]) -> None:
        super().__init__(iter(chunk), media_type="video/mp4", headers=headers)
        self.chunk = chunk
        self.slot = slot

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            with CancelScope(shield=True):  # a cancelled request still closes its chunk
                await run_in_threadpool(self.chunk.close)
            if self.slot is not None:
                self.slot.release()


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
    **MISSING, **BUSY, 200: {"content": {"video/mp4": {}}, "description": "Fragmented MP4 (init + fragments)."}})
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
    there on, 503 with Retry-After when a re-encode is asked for past ``recording.max_transcodes``."""
    _camera(parts, principal, camera_id)
    plan = await run_in_threadpool(parts.recordings.plan, camera_id, start, start + seconds + 60, contiguous=True)
    slot = _transcode_slot(parts, plan, codec, camera_id)
    try:
        kind = PlaybackH264 if slot is not None else Playback
        chunk = await run_in_threadpool(kind, parts.recordings.sources(plan), start, seconds, align)
    except BaseException as exc:
        if slot is not None:
            slot.release()
        if isinstance(exc, NothingRecorded):
            raise HTTPException(status.HTTP_404_NOT_FOUND, "nothing recorded at that time") from None
        raise
    response = ChunkResponse(chunk, slot, headers={
        "X-Start": f"{chunk.first_wall:.6f}", "X-Mime": chunk.mime, "X-Fps": f"{chunk.fps:g}",
        "Cache-Control": "no-store"})
    try:
        await run_in_threadpool(_audit_watch, request, parts, principal, camera_id, chunk.first_wall)
    except BaseException:
        chunk.close()
        if slot is not None:
            slot.release()
        raise
    return response


@router.get("/{camera_id}/export.mp4", response_class=FileResponse, responses={
    **MISSING, **BUSY, 400: error("a bad range"), 200: {"content": {"video/mp4": {}}, "description": "One MP4."}})
async def export_range(camera_id: str, principal: Viewer, parts: Parts, request: Request, start: Time, end: Time,
                       codec: Annotated[Literal["h264"] | None, Query(description=(
                           "h264: an H.265 recording re-encoded to H.264 (for a player without H.265); an H.264 "
                           "one is sent as recorded"))] = None) -> Response:
    """[start, end] as one MP4 by stream copy (from the keyframe at or before ``start``). Audited. With
    ``codec=h264`` an H.265 recording is re-encoded whole before the answer, under a transcode slot (503 with
    Retry-After past ``recording.max_transcodes``); a client that goes away meanwhile stops the re-encode and
    frees its slot at once (audited as an export that did not finish)."""
    _camera(parts, principal, camera_id)
    longest = parts.recordings.settings.max_export_seconds
    if end <= start or end - start > longest:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, f"end must be after start, at most {longest:.0f} s later")
    plan = await run_in_threadpool(parts.recordings.plan, camera_id, start, end, contiguous=False)
    slot = _transcode_slot(parts, plan, codec, camera_id)  # before any work: a refusal costs nothing
    work = Path(tempfile.mkdtemp(prefix="citywall-export-"))
    dst = work / f"{camera_id}.mp4"
    sources = parts.recordings.sources(plan)
    stop = threading.Event()
    try:
        if slot is not None:
            done = await _unless_gone(request, stop, lambda: export_h264(sources, start, end, dst, stop))
        else:
            done = await run_in_threadpool(lambda: export(sources, start, end, dst))
    except ExportStopped:
        shutil.rmtree(work, ignore_errors=True)
        if slot is not None:
            slot.release(stopped=True)
        log.info("export of camera %s stopped: its client went away", camera_id, extra={"camera": camera_id})
        await run_in_threadpool(audit_action, request, principal, "playback.export", f"camera:{camera_id}",
                                False, {"start": start, "end": end, "codec": codec, "stopped": "client gone"})
        return Response(status_code=CLIENT_GONE)
    except NothingRecorded:
        shutil.rmtree(work, ignore_errors=True)
        raise HTTPException(status.HTTP_404_NOT_FOUND, "nothing recorded in that range") from None
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    finally:
        if slot is not None:
            slot.release()  # the file is made (or abandoned): sending it is no transcode
    await run_in_threadpool(audit_action, request, principal, "playback.export", f"camera:{camera_id}", True,
                            {"start": start, "end": end, "first": round(done.first_wall, 3), "frames": done.frames,
                             "codec": codec or done.codec, "left_out": plan.left_out})
    name = f"{camera_id}-{int(done.first_wall)}.mp4"
    return FileResponse(done.path, media_type="video/mp4", filename=name,
                        headers={"X-Start": f"{done.first_wall:.6f}", "Cache-Control": "no-store"},
                        background=BackgroundTask(shutil.rmtree, work, ignore_errors=True))


async def _unless_gone(request: Request, stop: threading.Event, job: Callable[[], T]) -> T:
    """``job()`` on a worker thread while the request's connection is watched: when the client goes away
    (``http.disconnect``) ``stop`` is set, which the job looks at between frames and answers with ExportStopped.
    A GET has no body, so nothing but the disconnect is waited for here."""

    async def watch() -> None:
        while True:
            message = await request.receive()
            if message["type"] == "http.disconnect":
                stop.set()
                return

    failure: Exception | None = None
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(watch)
        try:
            result = await run_in_threadpool(job)
        except Exception as exc:  # raised past the group, not in it: the caller sees it, not an ExceptionGroup
            failure = exc
        finally:
            stop.set()  # the request cancelled (the server stopping) ends the job too; after its end, a no-op
            tasks.cancel_scope.cancel()
    if failure is not None:
        raise failure
    return result


# -- 视频立案 from a paused playback ----------------------------------------------------------------------------
FILING = {**MISSING, 403: error("the user may not decide cases"), 422: invalid("a moment in the future, a bad body")}


class PlaybackCaseIn(FilingFields):
    """视频立案 from a paused playback: the case of what the recording shows at ``at``."""

    at: float = Field(ge=0, le=32503680000, description="Unix time the paused player shows (its X-Start plus "
                      "currentTime): the still is that frame, the case's observed time this time.")


def _filing_camera(parts: Parts, principal: Principal, camera_id: str) -> None:
    _camera(parts, principal, camera_id)  # 404 first: a refusal must not tell a user without the right anything
    require_decider(principal)


@router.get("/{camera_id}/filing", responses=FILING)
def playback_filing_defaults(camera_id: str, principal: Viewer, parts: Parts) -> FilingDefaults:
    """What the filing dialog starts from (the camera's grid code, street, community and address)."""
    _filing_camera(parts, principal, camera_id)
    return parts.cases.filer.defaults(camera_id)


@router.get("/{camera_id}/still.jpg", response_class=Response, responses={
    **FILING, 200: {"content": {"image/jpeg": {}}}, 404: error("no right, or nothing recorded at that time")})
def playback_still(camera_id: str, principal: Viewer, parts: Parts, request: Request, at: Time) -> Response:
    """The recorded frame on screen at ``at``, full resolution: the operator draws the box on it. ``X-Frame``
    is that frame's own wall time (at or just before ``at``). Audited as watching that minute."""
    _filing_camera(parts, principal, camera_id)
    recorded = RecordedMoments(parts.recordings).still(camera_id, at)
    _audit_watch(request, parts, principal, camera_id, at)
    return Response(recorded.still.jpeg, media_type="image/jpeg",
                    headers={"X-Frame": f"{recorded.wall:.6f}", "Cache-Control": "no-store"})


def _refusal(exc: DomainError) -> dict[str, object]:
    return {"error": exc.message, "origin": "playback"}


@router.post("/cases", status_code=status.HTTP_201_CREATED, responses=FILING)
async def file_from_playback(body: PlaybackCaseIn, request: Request, principal: Viewer,
                             parts: Parts) -> CaseSummary:
    """视频立案 from a paused playback: the still is the recorded frame at ``at`` and the clip the recording
    around it (stream copy), both taken on the server; the case is filed as from the live view (source
    ``patrol``, confirmed by the operator, through the outbox with a platform), its observed time ``at``. 404
    without the playback right or with nothing recorded at ``at``, 403 for a user who may not decide cases, 422
    for a moment in the future, an unknown code or a bad box. Audited (``case_file``, ``origin: playback``)."""
    _filing_camera(parts, principal, body.camera)
    moments = RecordedMoments(parts.recordings)

    async def take() -> Taken:
        return await run_in_threadpool(moments.take, body.camera, body.at)

    with audit_refusal(request, principal, "case_file", f"camera:{body.camera}", _refusal):
        given = {k: getattr(body, k) or None for k in LOCATION if k in body.model_fields_set}
        case = await parts.cases.filer.file(camera_id=body.camera, user=principal.name, code=body.code,
                                            box=body.box, description=body.description, location=given,
                                            origin=take)
    await run_in_threadpool(audit_action, request, principal, "case_file", f"case:{case.id}", True,
                            {"camera": case.camera, "code": case.code, "source": case.source, "origin": "playback",
                             "at": round(body.at, 3)})
    if parts.cases.outbox is not None:
        parts.cases.outbox.kick()
    return case
