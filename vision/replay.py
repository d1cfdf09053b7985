"""Replay a recorded clip through the live pipeline: sampler → detector → tracker → zones → rules → evidence.

This is how a site tunes zones and thresholds on its own footage: the classes, decoders and rule code are the
ones the service runs; only the source is a file (read as fast as it decodes, or at real time). So a replay takes
what the camera would run with: its look interval and ``analysis_max_interval`` (the sampler snaps looks to
keyframes the same way), the site's event catalogue, and a wall-clock start (``start_wall``) for the clip's first
frame, because schedules are judged by the time the footage was *recorded*, not by the time it is replayed.

Evidence is written as live: the annotated snapshot, the clean frame, the raise's clip, and the arrival clip held
from the candidate's first-seen window (``vision.evidence.ArrivalWindows``) — with ``ring_seconds`` set to the
camera's ring, the clips are the ones the service would have kept.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path

import av

from streams.ring import ClipUnavailable, PacketRing
from streams.sampler import FrameSampler, SampledFrame
from streams.source import Epoch, PacketReader, TimedPacket
from vision.analyzer import CameraAnalyzer
from vision.card import Family
from vision.catalogue import Catalogue
from vision.events import EventChange
from vision.evidence import ArrivalWindows, store_evidence, write_packets
from vision.pipeline import AnalysisPipeline, Detects
from vision.rules_config import CameraRules

CLIP_PRE_SECONDS = 5.0
CLIP_POST_SECONDS = 5.0
REPLAY_RING_SECONDS = CLIP_PRE_SECONDS + CLIP_POST_SECONDS + 600  # a replay's own ring: clips of any dwell


class Replay:
    """Drive one clip through the pipeline; iterate :meth:`run` for event changes as they happen."""

    def __init__(self, clip: Path, rules: CameraRules, detector: Detects, families: Mapping[Family, list[str]],
                 catalogue: Catalogue, *, interval: float = 2.0, max_interval: float | None = None,
                 width: int = 640, realtime: bool = False, out_dir: Path | None = None, camera_id: str = "replay",
                 start_wall: float | None = None, ring_seconds: float = REPLAY_RING_SECONDS,
                 progress: Callable[[float, float], None] | None = None) -> None:
        self.clip = clip
        self.analyzer = CameraAnalyzer(camera_id, rules, families, catalogue)
        self._changes: list[EventChange] = []
        self.pipeline = AnalysisPipeline(detector, {camera_id: self.analyzer}, self._changes.append)
        self.interval, self.max_interval, self.width, self.realtime = interval, max_interval, width, realtime
        self.out_dir = out_dir
        self.start_wall = time.time() if start_wall is None else start_wall
        self.progress = progress
        self.ring = PacketRing(seconds=ring_seconds, max_bytes=512 << 20)
        self.arrivals = ArrivalWindows(CLIP_PRE_SECONDS, CLIP_POST_SECONDS)
        self.looks = 0
        self.duration = 0.0

    def run(self) -> Iterator[EventChange]:
        frames: list[SampledFrame] = []
        sampler = FrameSampler(self.analyzer.camera_id, self.interval, frames.append, width=self.width,
                               max_interval=self.max_interval)
        reader = PacketReader(f"file:{self.clip}", loop=False, realtime=self.realtime)
        info = reader.open()
        assert reader.stream is not None
        epoch = Epoch(info, reader.stream, reader)
        self.duration = float(reader.stream.duration * info.time_base) if reader.stream.duration else 0.0
        duration = self.duration
        sampler.on_epoch(epoch)
        pending: list[tuple[EventChange, list[TimedPacket] | None]] = []  # waiting for their clip's post-roll
        last_pts = 0.0
        try:
            for packet in reader.packets():
                assert packet.pts is not None  # packets() fills pts in
                pts_s = float(packet.pts * info.time_base)
                last_pts = pts_s
                item = TimedPacket(epoch, packet, self.start_wall + pts_s, pts_s, pts_s, bool(packet.is_keyframe))
                self.ring.append(item)
                sampler.on_packet(item)
                for frame in frames:
                    self._analyse(frame, pending)
                frames.clear()
                yield from self._finish_clips(pending, self.start_wall + pts_s, final=False)
            sampler.on_drop()
            for frame in frames:
                self._analyse(frame, pending)
            yield from self._finish_clips(pending, self.start_wall + last_pts, final=True)
        finally:
            reader.close()
            if self.progress:
                self.progress(duration or last_pts, duration or last_pts)

    def _analyse(self, frame: SampledFrame, pending: list[tuple[EventChange, list[TimedPacket] | None]]) -> None:
        self.looks += 1
        if self.progress:
            self.progress(frame.pts_s, self.duration)
        self.pipeline.process([frame])  # the live path, one frame at a time
        changes, self._changes[:] = list(self._changes), []
        for change in changes:
            arrival: list[TimedPacket] | None = None
            if self.out_dir is not None:
                name = "snapshot" if change.kind != "cleared" else "after_snapshot"
                for key, data in ((name, change.snapshot_jpeg), ("frame", change.frame_jpeg)):
                    if data:
                        change.evidence[key] = str(store_evidence(self.out_dir, data, ".jpg"))
                if change.kind == "opened":
                    change.clip_window = (change.first_seen - CLIP_PRE_SECONDS, change.t + CLIP_POST_SECONDS)
                    arrival = self.arrivals.claim(change.zone_id, change.place, change.first_seen, change.t,
                                                  self.ring)
            pending.append((change, arrival))
        if self.out_dir is not None:  # what the live clip thread does once a second, here after every look
            self.arrivals.follow(self.analyzer.candidates, frame.wall, self.ring)

    def _finish_clips(self, pending: list[tuple[EventChange, list[TimedPacket] | None]], now_wall: float, *,
                      final: bool) -> Iterator[EventChange]:
        """Release changes in order; an opened event waits for its clip's post-roll to be in the ring."""
        while pending:
            change, arrival = pending[0]
            if change.clip_window is not None and not final and now_wall < change.clip_window[1]:
                return
            pending.pop(0)
            if change.clip_window is not None and self.out_dir is not None:
                if arrival:
                    self._store_clip(change, "arrival_clip", functools.partial(write_packets, packets=arrival))
                start, end = change.clip_window
                self._store_clip(change, "clip", functools.partial(self.ring.write_clip, start_wall=start,
                                                                   end_wall=end))
            yield change

    def _store_clip(self, change: EventChange, kind: str, write: Callable[[Path], object]) -> None:
        assert self.out_dir is not None
        tmp = self.out_dir / f"{kind}-{change.event_id}.mp4"
        try:
            write(tmp)
            change.evidence[kind] = str(store_evidence(self.out_dir, tmp.read_bytes(), ".mp4"))
        except ClipUnavailable:
            pass
        finally:
            tmp.unlink(missing_ok=True)


def recorded_at(clip: Path) -> float | None:
    """When the file says it was recorded (the container's ``creation_time``, as cameras and NVRs write it), as
    Unix time; None when it does not say (or says nonsense, like the 1904 epoch of an unset MP4 field)."""
    with av.open(str(clip)) as container:
        tags = {**container.metadata, **(container.streams.video[0].metadata if container.streams.video else {})}
    value = tags.get("creation_time")
    if not value:
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp() if when.year >= 1971 else None
