"""Retention: recordings older than their camera's retention, and past the disk quota the oldest, are deleted —
except what an open case's evidence window needs.

Why the exception is absolute: a case under review, dispatched or waiting for its video check may be asked
about ("show me the stall at 14:05"), and its evidence clip is only 15 s; the recording around it is the rest
of the story. So every segment that overlaps [first sighting − margin, last sighting + margin] of a case of the
same camera that is not closed or rejected stays, even when the quota is then exceeded (the pass says so in the
log and in its result). Once the case closes, its segments age like any other.

Order: by days first (each camera's own retention), then by quota, oldest first across all cameras. The file is
unlinked first and its row deleted after, so a failure between the two leaves a row without a file (playback
skips it; the next pass removes the row), never a file that nobody indexes and nothing would ever delete.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import delete, select

from streams.config import CameraConfig
from wall.recording.index import unix
from wall.recording_settings import RecordingSettings
from wall.store.accounts import utcnow
from wall.store.cases import Case
from wall.store.db import Database
from wall.store.recordings import RecordingSegment

log = logging.getLogger(__name__)

CLOSED_STATUSES = ("closed", "rejected")  # a case in any other status is open: its evidence window is kept
BATCH = 500


@dataclass
class RetentionResult:
    deleted: int = 0
    freed_bytes: int = 0
    kept_for_cases: int = 0  # segments past their time or the quota, kept because an open case needs them
    over_quota_bytes: int = 0  # still over the quota after the pass (all that is left is protected)
    deleted_paths: list[str] = field(default_factory=list)


class Retention:
    def __init__(self, db: Database, root: Path, settings: RecordingSettings,
                 cameras: Callable[[], list[CameraConfig]], clock: Callable[[], datetime] = utcnow) -> None:
        self.db = db
        self.root = root
        self.settings = settings
        self.cameras = cameras  # the registry's cameras now (their recording blocks say their retention)
        self.clock = clock

    def protected(self) -> dict[str, list[tuple[float, float]]]:
        """Per camera, the evidence windows of its open cases (Unix seconds)."""
        margin = self.settings.evidence_margin_seconds
        windows: dict[str, list[tuple[float, float]]] = {}
        with self.db.session() as s:
            rows = s.execute(select(Case.camera_id, Case.first_seen, Case.last_seen).where(
                Case.status.not_in(CLOSED_STATUSES))).all()
        for camera_id, first, last in rows:
            windows.setdefault(camera_id, []).append((unix(first) - margin, unix(last) + margin))
        return windows

    def run(self) -> RetentionResult:
        result = RetentionResult()
        windows = self.protected()

        def needed(row: RecordingSegment) -> bool:
            start, end = unix(row.start_at), unix(row.end_at)
            return any(start < w_end and end > w_start for w_start, w_end in windows.get(row.camera_id, []))

        now = self.clock()
        plans = {cam.id: self.settings.plan_for(cam) for cam in self.cameras()}
        default_days = self.settings.retention_days
        oldest_cutoff = now - timedelta(days=min([p.retention_days for p in plans.values()] + [default_days]))
        with self.db.session() as s:  # by days: each camera's own retention (a removed camera: the site's)
            rows = s.scalars(select(RecordingSegment).where(RecordingSegment.end_at < oldest_cutoff)
                             .order_by(RecordingSegment.start_at)).all()
        expired = []
        for row in rows:
            plan = plans.get(row.camera_id)
            days = plan.retention_days if plan is not None else default_days
            if unix(row.end_at) < (now - timedelta(days=days)).timestamp():
                expired.append(row)
        self._delete([r for r in expired if not needed(r)], result)
        result.kept_for_cases += sum(1 for r in expired if needed(r))

        quota = self.settings.quota_gb
        if quota is not None:
            limit = int(quota * 1024**3)
            with self.db.session() as s:
                rows = s.scalars(select(RecordingSegment).order_by(RecordingSegment.start_at)).all()
            total = sum(r.size for r in rows)
            victims: list[RecordingSegment] = []
            for row in rows:
                if total <= limit:
                    break
                if needed(row):
                    result.kept_for_cases += 1
                    continue
                victims.append(row)
                total -= row.size
            self._delete(victims, result)
            result.over_quota_bytes = max(0, total - limit)
            if total > limit:
                log.warning("recording: %.1f GB over the quota; what is left is kept for open cases",
                            (total - limit) / 1024**3)
        return result

    def _delete(self, rows: list[RecordingSegment], result: RetentionResult) -> None:
        for i in range(0, len(rows), BATCH):
            batch = rows[i:i + BATCH]
            gone: list[int] = []
            for row in batch:
                path = self.root / row.path
                try:
                    path.unlink(missing_ok=True)
                except OSError as exc:  # a read-only mount: the row stays, so the file is still accounted for
                    log.warning("recording: cannot delete %s: %s", row.path, exc.strerror)
                    continue
                gone.append(row.id)
                result.deleted += 1
                result.freed_bytes += row.size
                result.deleted_paths.append(row.path)
                _prune_empty(path.parent, self.root)
            if gone:
                with self.db.session() as s:
                    s.execute(delete(RecordingSegment).where(RecordingSegment.id.in_(gone))
                              .execution_options(synchronize_session=False))


def _prune_empty(folder: Path, root: Path) -> None:
    """Remove a day's folder (and then the camera's) once its last segment is gone."""
    while folder != root and root in folder.parents:
        try:
            folder.rmdir()
        except OSError:
            return
        folder = folder.parent

