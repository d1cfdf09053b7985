"""RecordingService: the control plane's side of recording — the index, retention on a timer, the timeline, and
which segment files a playback chunk or an export reads.

The recorders run with the cameras (in this process or on cluster workers) and say through the runtime seam
which segment they closed; this service writes the index from that, so the index is in the one database however
the cameras are spread. Rights are not decided here: the routes ask ``Principal.may_play_back`` first and audit.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select

from streams.playback import SegmentSource
from wall.config import SiteConfig
from wall.recording.index import RecordingIndex, at, unix
from wall.recording.models import CaseMark, PlaybackPlan, SegmentFile, Timeline
from wall.recording.retention import Retention, RetentionResult
from wall.recording.transcodes import TranscodeSlots
from wall.runtime.interface import CameraRuntime
from wall.runtime.registry import CameraRegistry
from wall.store.accounts import utcnow
from wall.store.cases import Case
from wall.store.db import Database

log = logging.getLogger(__name__)

JOIN_GAP_SECONDS = 1.0
MAX_MARKS = 1000


class RecordingService:
    def __init__(self, site: SiteConfig, db: Database, runtime: CameraRuntime, registry: CameraRegistry,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.settings = site.server_file.recording
        self.root = self.settings.storage_root(site.directory, site.data_dir)
        self.db = db
        self.index = RecordingIndex(db, self.root)
        self.retention = Retention(db, self.root, self.settings, registry.cameras, clock)
        self.transcodes = TranscodeSlots(self.settings.max_transcodes)  # H.264 of H.265 playback and exports
        runtime.subscribe_segments(self.index.add)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_retention: RetentionResult | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="recording-retention", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        self.index.flush()

    def _run(self) -> None:
        while not self._stop.wait(self.settings.retention_interval_seconds):
            self.run_retention()

    def run_retention(self) -> RetentionResult | None:
        """One pass: index what waits, then delete by days and quota (never an open case's evidence)."""
        try:
            self.index.flush()
            self.last_retention = self.retention.run()
            return self.last_retention
        except Exception:  # a database away or a mount gone: the next pass tries again
            log.exception("recording retention pass failed")
            return None

    # -- reading ----------------------------------------------------------------------------------------------
    def timeline(self, camera_id: str, start: float, end: float) -> Timeline:
        """The camera's recorded ranges and its cases in [start, end]."""
        with self.db.session() as s:
            rows = s.execute(select(Case.id, Case.first_seen, Case.last_seen, Case.code, Case.code_name, Case.status)
                             .where(Case.camera_id == camera_id, Case.last_seen >= at(start),
                                    Case.first_seen <= at(end)).order_by(Case.first_seen).limit(MAX_MARKS)).all()
        marks = [CaseMark(case_id=r[0], start=unix(r[1]), end=unix(r[2]), code=r[3], code_name=r[4], status=r[5])
                 for r in rows]
        return Timeline(camera_id=camera_id, start=start, end=end,
                        ranges=self.index.ranges(camera_id, start, end), marks=marks)

    def plan(self, camera_id: str, start: float, end: float, *, contiguous: bool) -> PlaybackPlan:
        """The segment files for [start, end]: from the one holding ``start`` (or the first after it), all with
        its codec parameters; ``contiguous`` (playback) also stops at the first gap. Missing files are skipped."""
        found = [s for s in self.index.segments(camera_id, start, end) if s.path.is_file()]
        chosen: list[SegmentFile] = []
        left_out = 0
        for seg in found:
            if chosen and seg.params != chosen[0].params:
                left_out += 1
                continue
            if chosen and contiguous and seg.start - chosen[-1].end > JOIN_GAP_SECONDS:
                break
            chosen.append(seg)
        return PlaybackPlan(camera_id=camera_id, start=start, end=end, segments=chosen, left_out=left_out)

    @staticmethod
    def sources(plan: PlaybackPlan) -> list[SegmentSource]:
        return [SegmentSource(seg.path, seg.start) for seg in plan.segments]
