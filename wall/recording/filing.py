"""视频立案 from a paused playback: the recording as the origin of a filed case's still and clip.

An operator who looks back an hour in a tile's playback and sees a problem files it from there: the ring holds
only the last minute, the recording holds the moment. The still is the frame the paused player shows at ``at``
(decoded from the segments, the recorded stream's full resolution: ``streams.playback_still``), the clip a
stream copy of the recording from ``BEFORE_SECONDS`` before to ``AFTER_SECONDS`` after it, cut to what is
recorded. Everything after that — the box, the code, the location, the case, its outbox row — is
``CaseFiler.file``'s, the one way a case is filed; this module only makes the ``Taken`` it files with.

Refusals (the routes turn them into 4xx): a moment in the future (422), a moment with no recorded frame at or
just before it (404, as playback answers for a time with nothing recorded). Rights are the routes' (the
filing right and the playback right on the camera).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import av

from streams.playback import NothingRecorded, export
from streams.playback_still import RecordedStill, picture_at
from wall.cases.filing import Taken
from wall.errors import NotFound, Unprocessable
from wall.recording.service import RecordingService

BEFORE_SECONDS = 10.0  # the clip: what led to the moment…
AFTER_SECONDS = 5.0    # …and what followed it
FUTURE_SLACK_SECONDS = 2.0  # a browser's clock a little ahead of the server's is not "the future"
NOTHING_RECORDED = "nothing recorded at that time"


class RecordedMoments:
    """Stills and clips of recorded moments (blocking: file reads and decodes; call it off the event loop)."""

    def __init__(self, recordings: RecordingService, clock: Callable[[], float] = time.time) -> None:
        self.recordings = recordings
        self.clock = clock

    def still(self, camera_id: str, at: float) -> RecordedStill:
        """The frame a paused playback shows at ``at`` (the dialog draws the box on it)."""
        if at > self.clock() + FUTURE_SLACK_SECONDS:
            raise Unprocessable("the moment is in the future: file from a recorded time")
        plan = self.recordings.plan(camera_id, at, at + 1.0, contiguous=True)
        if not plan.segments:
            raise NotFound(NOTHING_RECORDED)
        try:
            return picture_at(self.recordings.sources(plan), at)
        except NothingRecorded:
            raise NotFound(NOTHING_RECORDED) from None

    def clip(self, camera_id: str, at: float) -> bytes | None:
        """The recording around ``at`` as one MP4 (stream copy); None when nothing of it is readable."""
        start, end = at - BEFORE_SECONDS, at + AFTER_SECONDS
        plan = self.recordings.plan(camera_id, start, end, contiguous=False)
        if not plan.segments:
            return None
        work = Path(tempfile.mkdtemp(prefix="citywall-filing-"))
        try:
            done = export(self.recordings.sources(plan), start, end, work / "clip.mp4")
            return done.path.read_bytes()
        except (NothingRecorded, OSError, av.error.FFmpegError):  # a segment deleted or torn meanwhile
            return None
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def take(self, camera_id: str, at: float) -> Taken:
        """The still and the clip of the moment, as ``CaseFiler.file`` keeps them; the case's observed time is
        ``at``, the time the paused player showed (its frame is the one on screen then)."""
        still = self.still(camera_id, at)
        return Taken(still=still.still, clip=self.clip(camera_id, at), moment=at, origin="playback")
