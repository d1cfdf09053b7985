"""The segment index in the database: adding what the recorders closed, and reading it back by camera and time.

Segments arrive from the runtime's threads (a recorder's, or the cluster's report poll). A database that cannot
take a row right now (PostgreSQL restarting) must not lose it: the row waits in ``pending`` and is written with
the next segment or the next retention pass. A segment seen twice (a cluster worker repeats its recent ones on
every report) is added once: its path is unique, and the recently added paths are remembered so a repeat costs
no query.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict, deque
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from wall.recording.models import RecordedRange, SegmentFile
from wall.runtime.models import RecordedSegment
from wall.store.accounts import utcnow
from wall.store.db import Database, unavailable
from wall.store.recordings import RecordingSegment

log = logging.getLogger(__name__)

JOIN_GAP_SECONDS = 1.0  # segments closer than this are one recorded range (a rotation leaves no real gap)
PENDING_MAX = 100_000
SEEN_MAX = 20_000


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def unix(value: datetime) -> float:
    return (value if value.tzinfo is not None else value.replace(tzinfo=UTC)).timestamp()  # SQLite: naive UTC


class RecordingIndex:
    def __init__(self, db: Database, root: Path) -> None:
        self.db = db
        self.root = root
        self.pending: deque[RecordedSegment] = deque(maxlen=PENDING_MAX)
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()
        self.added = 0

    # -- writing ----------------------------------------------------------------------------------------------
    def add(self, segment: RecordedSegment) -> None:
        """Index one closed segment (a runtime listener: never raises)."""
        with self._lock:
            if segment.path in self._seen:
                return
            self.pending.append(segment)
        self.flush()

    def flush(self) -> None:
        """Write what waits; on a database that is away, keep it for the next call."""
        with self._lock:
            waiting = list(self.pending)
            self.pending.clear()
        for n, segment in enumerate(waiting):
            try:
                self._insert(segment)
            except Exception as exc:
                if not unavailable(exc):  # a row the database refuses for good is not retried forever
                    log.exception("recording index: segment %s not indexed", segment.path)
                    continue
                with self._lock:
                    self.pending.extendleft(reversed(waiting[n:]))
                log.warning("recording index: the database is away; %d segments wait", len(waiting) - n)
                return

    def _insert(self, segment: RecordedSegment) -> None:
        try:
            with self.db.session() as s:
                if s.scalar(select(RecordingSegment.id).where(RecordingSegment.path == segment.path)) is None:
                    s.add(RecordingSegment(
                        camera_id=segment.camera_id, path=segment.path, start_at=at(segment.start),
                        end_at=at(segment.end), seconds=segment.end - segment.start, frames=segment.frames,
                        keyframes=segment.keyframes, size=segment.size, codec=segment.codec[:16],
                        width=segment.width, height=segment.height, params=segment.params[:32],
                        reason=segment.reason[:16], indexed_at=utcnow()))
                    self.added += 1
        except IntegrityError:  # another replica indexed it between our look and our insert
            pass
        with self._lock:
            self._seen[segment.path] = None
            while len(self._seen) > SEEN_MAX:
                self._seen.popitem(last=False)

    # -- reading ----------------------------------------------------------------------------------------------
    def segments(self, camera_id: str, start: float, end: float) -> list[SegmentFile]:
        """The camera's segments overlapping [start, end], oldest first."""
        with self.db.session() as s:
            rows = s.scalars(select(RecordingSegment).where(
                RecordingSegment.camera_id == camera_id, RecordingSegment.end_at > at(start),
                RecordingSegment.start_at < at(end)).order_by(RecordingSegment.start_at)).all()
        return [SegmentFile(id=r.id, path=self.root / r.path, start=unix(r.start_at), end=unix(r.end_at),
                            codec=r.codec, params=r.params, size=r.size) for r in rows]

    def ranges(self, camera_id: str, start: float, end: float) -> list[RecordedRange]:
        """Recorded stretches in [start, end]: consecutive segments merged; a gap (a camera offline, a restart,
        a mode that did not want the time) splits them."""
        out: list[RecordedRange] = []
        for seg in self.segments(camera_id, start, end):
            if out and seg.start - out[-1].end <= JOIN_GAP_SECONDS:
                last = out[-1]
                out[-1] = RecordedRange(start=last.start, end=max(last.end, seg.end), segments=last.segments + 1)
            else:
                out.append(RecordedRange(start=seg.start, end=seg.end, segments=1))
        return out

    def total_bytes(self) -> int:
        with self.db.session() as s:
            return int(s.scalar(select(func.coalesce(func.sum(RecordingSegment.size), 0))) or 0)
