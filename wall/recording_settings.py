"""``recording:`` in server.yaml: where segments go, how long they stay, and the site's and groups' defaults.

A module of its own (``wall.config`` holds only the field) so the settings of recording and playback live in one
place. A camera's own ``recording:`` block (cameras.yaml, ``streams.recording_config.RecordingPolicy``) wins
over its group's here, which wins over ``default``; ``plan_for`` resolves that chain for one camera.

Storage: a local directory or a mount shared by every box that runs cameras (cluster workers write there, the
control plane serves playback from there); the index in the database keeps paths relative to it, so the mount
may sit at another path on another box as long as each box's server.yaml names its own.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from settings.model import Strict
from streams.config import CameraConfig
from streams.recording_config import RecordingPlan, RecordingPolicy, resolve

MAX_GROUPS = 1000


class RecordingSettings(Strict):
    """Recording (录像) and playback: segment storage, retention, and the recording blocks cameras inherit."""

    storage_dir: str | None = Field(
        default=None, description="Segment files, relative to the config directory (or absolute: a shared "
        "mount in cluster mode); default: data_dir/recordings.")
    segment_seconds: float = Field(default=60.0, ge=2, le=3600, description="A new segment file starts at the "
                                   "first keyframe after this many seconds.")
    retention_days: float = Field(default=30.0, gt=0, le=3650, description="Segments older than this are deleted "
                                  "(a camera's or group's retention_days wins).")
    quota_gb: float | None = Field(default=None, gt=0, le=1_000_000, description="Disk quota of all segments: "
                                   "past it the oldest are deleted first. Unset: no quota.")
    evidence_margin_seconds: float = Field(
        default=120.0, ge=0, le=86400, description="An open case keeps the segments from this long before its "
        "first sighting to this long after its last: they are never deleted while the case is open.")
    retention_interval_seconds: float = Field(default=60.0, ge=1, le=86400, description="How often retention "
                                              "runs.")
    max_export_seconds: float = Field(default=3600.0, ge=10, le=86400, description="Longest time range one "
                                      "export may cover.")
    max_transcodes: int = Field(
        default=2, ge=0, le=1000, description="H.265 recordings this box re-encodes to H.264 at once for "
        "playback or export (`codec=h264`, a browser without H.265); one per playback chunk or export being "
        "made. Past it the request gets 503 with Retry-After and the player says so. 0: never re-encode. Apart "
        "from server.live.renditions, which is counted where the cameras run.")
    default: RecordingPolicy = Field(default_factory=lambda: RecordingPolicy(mode="off"),
                                     description="The recording block every camera inherits.")
    groups: dict[str, RecordingPolicy] = Field(default_factory=dict, max_length=MAX_GROUPS,
                                               description="Camera group → its recording block (between the "
                                               "camera's own and `default`).")

    def plan_for(self, camera: CameraConfig) -> RecordingPlan:
        group = self.groups.get(camera.group) if camera.group else None
        return resolve(camera.recording, group, self.default, segment_seconds=self.segment_seconds,
                       retention_days=self.retention_days)

    def storage_root(self, directory: Path, data_dir: Path) -> Path:
        """Where segments are: ``storage_dir`` against the config ``directory``, else ``data_dir/recordings``."""
        return (directory / self.storage_dir) if self.storage_dir else data_dir / "recordings"
