"""Try proposed rules on what a camera saw in the last minutes, before saving them.

The camera's packet ring already holds its recent video, exactly as it arrived: the last N minutes are cut from
it by stream copy (no re-encoding, so the try sees the same pixels the live analytics saw) and run through
``vision.replay.Replay`` — the sampler, detector, tracker, zones and place rules of the live service — with the
proposed rules instead of the saved ones. What comes back is what the rules *would* have raised, with the
annotated snapshot an operator would have seen.

One try runs at a time, on a detector of its own: the live pipeline's detector keeps serving the cameras (its
pre-bound buffers are not shared between threads), and the model file is loaded once, on the first try.
"""

from __future__ import annotations

import base64
import logging
import tempfile
import threading
import time
from pathlib import Path

from pydantic import BaseModel, Field

from vision.catalogue import Catalogue
from vision.detector import Detector
from vision.events import EventChange
from vision.replay import Replay
from vision.rules_config import CameraRules
from wall.errors import Conflict
from wall.runtime.analytics import SAMPLE_WIDTH
from wall.runtime.models import Clip, EventView

log = logging.getLogger(__name__)
MAX_SNAPSHOTS = 24  # each is ~50–100 kB inline; the first ones are what the admin looks at anyway
MAX_EVENTS = 200


class TriedEvent(EventView):
    snapshot: str | None = Field(None, description="The annotated snapshot of an opened event (data: URL); "
                                 "only the first ones carry it.")


class TryResult(BaseModel):
    """What proposed rules would have raised on the camera's last minutes."""

    camera: str
    requested_seconds: float
    seconds: float = Field(description="Of video the ring had (it keeps streams.ring_seconds at most).")
    start_wall: float
    end_wall: float
    looks: int
    events: list[TriedEvent]
    elapsed: float


def _event(change: EventChange, with_snapshot: bool) -> TriedEvent:
    out = change.as_dict()
    out.pop("evidence", None)
    if with_snapshot and change.snapshot_jpeg:
        out["snapshot"] = "data:image/jpeg;base64," + base64.b64encode(change.snapshot_jpeg).decode("ascii")
    return TriedEvent.model_validate(out)


class RuleTrier:
    """Runs proposed rules on a camera's recent video; one try at a time (a second one is refused, 409)."""

    def __init__(self, card: Path, catalogue: Catalogue) -> None:
        self.card = card
        self.catalogue = catalogue
        self._detector: Detector | None = None
        self._busy = threading.Lock()

    def _get_detector(self) -> Detector:
        if self._detector is None:
            self._detector = Detector(self.card)
        return self._detector

    def run(self, clip: Clip, rules: CameraRules, seconds: float) -> TryResult:
        """``clip``: the camera's last minutes (``CameraRuntime.recent_clip``); ``seconds``: what was asked."""
        if not self._busy.acquire(blocking=False):
            raise Conflict.of(["another try is running: wait for its result"])
        started = time.monotonic()
        try:
            detector = self._get_detector()
            with tempfile.TemporaryDirectory(prefix="citywall-try-") as tmp:
                path = Path(tmp) / "last-minutes.mp4"
                path.write_bytes(clip.data)
                replay = Replay(path, rules, detector, detector.card.families, self.catalogue,
                                interval=clip.analysis_interval, max_interval=clip.analysis_max_interval,
                                width=SAMPLE_WIDTH,
                                camera_id=clip.camera_id, start_wall=clip.start_wall)
                changes = []
                for change in replay.run():
                    changes.append(change)
                    if len(changes) >= MAX_EVENTS:
                        break
        finally:
            self._busy.release()
        events = [_event(c, i < MAX_SNAPSHOTS) for i, c in enumerate(changes)]
        result = TryResult(camera=clip.camera_id, requested_seconds=seconds, seconds=round(clip.duration, 1),
                           start_wall=round(clip.start_wall, 3), end_wall=round(clip.end_wall, 3),
                           looks=replay.looks, events=events, elapsed=round(time.monotonic() - started, 2))
        log.info("rules tried on camera %s: %.0f s of video, %d looks, %d event changes in %.1f s", clip.camera_id,
                 result.seconds, result.looks, len(events), result.elapsed, extra={"camera": clip.camera_id})
        return result
