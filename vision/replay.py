"""Replay a recorded clip through the live pipeline: sampler → detector → tracker → zones → rules → evidence.

This is how a site tunes zones and thresholds on its own footage: the classes, decoders and rule code are the
ones the service runs; only the source is a file (read as fast as it decodes, or at real time).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

from streams.ring import ClipUnavailable, PacketRing
from streams.sampler import FrameSampler, SampledFrame
from streams.source import Epoch, PacketReader, TimedPacket
from vision.analyzer import CameraAnalyzer
from vision.card import Family
from vision.catalogue import Catalogue
from vision.events import EventChange
from vision.evidence import store_evidence
from vision.pipeline import AnalysisPipeline, Detects
from vision.rules_config import CameraRules

CLIP_PRE_SECONDS = 5.0
CLIP_POST_SECONDS = 5.0


class Replay:
    """Drive one clip through the pipeline; iterate :meth:`run` for event changes as they happen."""

    def __init__(self, clip: Path, rules: CameraRules, detector: Detects, families: Mapping[Family, list[str]],
                 catalogue: Catalogue, *, interval: float = 2.0, width: int = 640, realtime: bool = False,
                 out_dir: Path | None = None, camera_id: str = "replay", start_wall: float | None = None,
                 progress: Callable[[float, float], None] | None = None) -> None:
        self.clip = clip
        self.analyzer = CameraAnalyzer(camera_id, rules, families, catalogue)
        self._changes: list[EventChange] = []
        self.pipeline = AnalysisPipeline(detector, {camera_id: self.analyzer}, self._changes.append)
        self.interval, self.width, self.realtime = interval, width, realtime
        self.out_dir = out_dir
        self.start_wall = time.time() if start_wall is None else start_wall
        self.progress = progress
        self.ring = PacketRing(seconds=CLIP_PRE_SECONDS + CLIP_POST_SECONDS + 600, max_bytes=512 << 20)
        self.looks = 0
        self.duration = 0.0

    def run(self) -> Iterator[EventChange]:
        frames: list[SampledFrame] = []
        sampler = FrameSampler(self.analyzer.camera_id, self.interval, frames.append, width=self.width)
        reader = PacketReader(f"file:{self.clip}", loop=False, realtime=self.realtime)
        info = reader.open()
        assert reader.stream is not None
        epoch = Epoch(info, reader.stream, reader)
        self.duration = float(reader.stream.duration * info.time_base) if reader.stream.duration else 0.0
        duration = self.duration
        sampler.on_epoch(epoch)
        pending: list[EventChange] = []  # waiting for their clip's post-roll
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

    def _analyse(self, frame: SampledFrame, pending: list[EventChange]) -> None:
        self.looks += 1
        if self.progress:
            self.progress(frame.pts_s, self.duration)
        self.pipeline.process([frame])  # the live path, one frame at a time
        changes, self._changes[:] = list(self._changes), []
        for change in changes:
            if self.out_dir is not None and change.snapshot_jpeg:
                name = "snapshot" if change.kind != "cleared" else "after_snapshot"
                change.evidence[name] = str(store_evidence(self.out_dir, change.snapshot_jpeg, ".jpg"))
            if change.kind == "opened" and self.out_dir is not None:
                change.clip_window = (change.first_seen - CLIP_PRE_SECONDS, change.t + CLIP_POST_SECONDS)
            pending.append(change)

    def _finish_clips(self, pending: list[EventChange], now_wall: float, *, final: bool) -> Iterator[EventChange]:
        """Release changes in order; an opened event waits for its clip's post-roll to be in the ring."""
        while pending:
            change = pending[0]
            if change.clip_window is not None and not final and now_wall < change.clip_window[1]:
                return
            pending.pop(0)
            if change.clip_window is not None and self.out_dir is not None:
                tmp = self.out_dir / f"clip-{change.event_id}.mp4"
                try:
                    self.ring.write_clip(tmp, *change.clip_window)
                    change.evidence["clip"] = str(store_evidence(self.out_dir, tmp.read_bytes(), ".mp4"))
                except ClipUnavailable:
                    pass
                finally:
                    tmp.unlink(missing_ok=True)
            yield change
