"""视频立案: an operator files a case from what a camera shows (now, or up to the ring's length ago).

The evidence is the server's, never the browser's: the still is the camera's keyframe at that moment at full
resolution (the newest one for "now", else the keyframe at or before the moment, decoded from the ring), the
clip the ring's last seconds around it, both stored by content hash through the same ``EvidenceStore`` the
analytics write with (so a full or read-only disk is the same "evidence missing, case filed" it is for them).
A camera that has no picture in memory yet (connecting, offline) refuses the filing: a case without the picture
it was filed on is no video case. The case itself is written by ``CaseDesk.file`` (raised and confirmed by the
operator in one transaction, the outbox row with it).

A recording is the other origin of a moment's evidence (视频立案 from a paused playback, any time ago): the
caller hands ``file`` an ``origin`` that takes the still and clip (``wall.recording.filing``), and the case is
filed the same way, its observed time the moment the still shows.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from streams.ring import ClipUnavailable
from streams.stills import Still, jpeg_size, keyframe_at
from vision.evidence import EvidenceStore, EvidenceUnavailable
from wall.cases.desk import CaseDesk
from wall.cases.models import CaseSummary, FiledCase, FilingDefaults
from wall.errors import Conflict, NotFound, Unprocessable
from wall.runtime.interface import CameraRuntime
from wall.runtime.models import Clip

log = logging.getLogger(__name__)
CLIP_SECONDS = 15.0  # the clip ends at the filing (or the moment plus this much), starts this much before it
LOCATION = ("grid_code", "street", "community", "address")  # filled in from the camera, editable
NO_PICTURE = "camera {camera} has no picture yet (connecting or offline): nothing to file a case on"
NO_RING_CLIP = "no video of the moment in the camera's memory"


@dataclass(frozen=True)
class Taken:
    """A moment's evidence taken elsewhere than the ring (a recording): what ``file``'s ``origin`` returns."""

    still: Still
    clip: bytes | None
    moment: float  # Unix time the still shows: the case's observed time
    origin: str  # where it came from, for the log ("playback")
    no_clip: str = "no recorded video around the moment"  # the missing clip's reason, when there is none


Origin = Callable[[], Awaitable[Taken]]


class CaseFiler:
    def __init__(self, desk: CaseDesk, runtime: CameraRuntime, evidence: EvidenceStore, *, ring_seconds: float,
                 webhook: bool) -> None:
        self.desk = desk
        self.runtime = runtime
        self.evidence = evidence
        self.ring_seconds = ring_seconds
        self.webhook = webhook  # a platform is configured: a filed case gets its outbox row
        # how far back a still may come from: the ring less a little, so the moment's keyframe is still in it
        self.max_seconds_ago = max(0.0, ring_seconds - 2.0)

    def defaults(self, camera_id: str) -> FilingDefaults:
        """The camera's location as the dialog starts from it (the caller checked the grant)."""
        cam = self.desk.cameras.get(camera_id)
        if cam is None:
            raise NotFound("camera not found")
        return FilingDefaults(camera=cam.id, camera_name=cam.name, grid_code=cam.grid_code, street=cam.street,
                              community=cam.community, address=cam.address, max_seconds_ago=self.max_seconds_ago,
                              clip_seconds=CLIP_SECONDS)

    async def still(self, camera_id: str, seconds_ago: float) -> Still:
        """The picture a filing at ``seconds_ago`` would keep (the dialog draws the box on it)."""
        self._check_camera(camera_id, seconds_ago)
        still, _clip = await self._still(camera_id, seconds_ago, with_clip=seconds_ago > 0)
        return still

    async def file(self, *, camera_id: str, user: str, code: str, box: tuple[float, float, float, float],
                   description: str, location: dict[str, str | None], seconds_ago: float = 0.0,
                   origin: Origin | None = None) -> CaseSummary:
        """Take the evidence at the moment and record the case; ``box`` is in 0–1 of the picture. ``location``
        holds the fields the operator sent (grid_code, street, community, address; None clears one): the
        others are the camera's. ``origin``: the evidence comes from it (a recording) instead of the ring's
        ``seconds_ago``, taken once the camera and the code are known to be good."""
        if origin is None:
            self._check_camera(camera_id, seconds_ago)
        elif camera_id not in self.desk.cameras:
            raise NotFound("camera not found")
        place = self.defaults(camera_id).model_dump(include=set(LOCATION)) | location
        if self.desk.catalogue.get(code) is None:
            raise Unprocessable(f"code '{code}' is not in catalogue {self.desk.catalogue.version}")
        if origin is None:
            moment, source, no_clip = time.time() - seconds_ago, "the ring", NO_RING_CLIP
            still, ring_clip = await self._still(camera_id, seconds_ago, with_clip=True)
            clip = ring_clip.data if ring_clip is not None else None
        else:
            taken = await origin()
            moment, source, no_clip, still, clip = taken.moment, taken.origin, taken.no_clip, taken.still, taken.clip
            seconds_ago = max(0.0, time.time() - moment)
        x0, y0, x1, y1 = box
        pixels = (round(x0 * still.width, 1), round(y0 * still.height, 1), round(x1 * still.width, 1),
                  round(y1 * still.height, 1))

        def record() -> CaseSummary:  # fsyncs and a transaction: off the event loop
            evidence: dict[str, str] = {}
            missing: dict[str, str] = {}
            self._store("snapshot", still.jpeg, ".jpg", evidence, missing)
            if clip is not None:
                self._store("clip", clip, ".mp4", evidence, missing)
            else:
                missing["clip"] = no_clip
            return self.desk.file(FiledCase(
                camera_id=camera_id, user=user, code=code, box=pixels, description=description,
                grid_code=place["grid_code"], street=place["street"], community=place["community"],
                address=place["address"],
                seen_at=datetime.fromtimestamp(moment, UTC), seconds_ago=seconds_ago, evidence=evidence,
                missing_evidence=missing, webhook=self.webhook))

        summary = await asyncio.to_thread(record)
        log.info("case %s filed from video of camera %s (%.0f s ago, from %s)", summary.id, camera_id, seconds_ago,
                 source, extra={"camera": camera_id})
        return summary

    # -- internals -------------------------------------------------------------------------------
    def _check_camera(self, camera_id: str, seconds_ago: float) -> None:
        if camera_id not in self.desk.cameras:
            raise NotFound("camera not found")
        if seconds_ago > self.max_seconds_ago:
            raise Unprocessable(f"seconds_ago must be at most {self.max_seconds_ago:.0f}: the camera keeps only "
                                f"the last {self.ring_seconds:.0f} s of video")

    async def _still(self, camera_id: str, seconds_ago: float, *, with_clip: bool) -> tuple[Still, Clip | None]:
        """The still at the moment and, when asked, the clip around it (from the same cut when in the past)."""
        clip: Clip | None = None
        if with_clip:
            length = min(self.ring_seconds, seconds_ago + CLIP_SECONDS) if seconds_ago > 0 else CLIP_SECONDS
            try:
                clip = await self.runtime.recent_clip(camera_id, length)
            except (ClipUnavailable, LookupError):
                clip = None
        if seconds_ago <= 0:
            jpeg = await self.runtime.snapshot(camera_id, None)
            size = await asyncio.to_thread(jpeg_size, jpeg) if jpeg else None
            if jpeg is None or size is None:
                raise Conflict(NO_PICTURE.format(camera=camera_id))
            return Still(jpeg=jpeg, width=size[0], height=size[1], offset=0.0), clip
        if clip is None:
            raise Conflict(NO_PICTURE.format(camera=camera_id))
        moment = time.time() - seconds_ago
        if moment < clip.start_wall - 1.0:
            raise Conflict(f"camera {camera_id} has only {clip.end_wall - clip.start_wall:.0f} s of video in "
                           f"memory (since it last connected): choose a later moment")
        still = await asyncio.to_thread(keyframe_at, clip.data, max(0.0, moment - clip.start_wall))
        if still is None:
            raise Conflict(NO_PICTURE.format(camera=camera_id))
        return still, clip

    def _store(self, kind: str, data: bytes, suffix: str, evidence: dict[str, str], missing: dict[str, str]) -> None:
        try:
            evidence[kind] = str(self.evidence.put(data, suffix))
        except EvidenceUnavailable as exc:
            missing[kind] = exc.reason
            log.error("evidence %s of a filed case not written: %s", kind, exc.reason)

