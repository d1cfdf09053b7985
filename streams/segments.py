"""Segment files of a recording: one camera's own packets, stream-copied into MP4 files of about a minute each.

Why fragmented MP4 (``frag_keyframe+empty_moov``): a plain MP4 is only readable once its index (``moov``) is
written at the end, so a power cut or a killed process would lose the whole segment; a fragmented one holds
every finished GOP on its own. A segment is written under ``NAME.mp4.part`` and renamed when it closes, so
whatever lists the directory never takes a half-written file for a finished one; a ``.part`` left by a crash
is finished by ``recover`` at the recorder's next start (probed, renamed, indexed like any other).

Files are laid out ``ROOT/CAMERA/YYYY-MM-DD/CAMERA-YYYYmmddTHHMMSS.fffZ.mp4`` (UTC), so the storage root can be
a mount shared by several boxes (cluster workers) and the index keeps paths relative to it.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import av

from streams.source import Epoch, TimedPacket

log = logging.getLogger(__name__)

MOVFLAGS = "frag_keyframe+empty_moov+default_base_moof"
PART = ".part"


@dataclass(frozen=True)
class SegmentInfo:
    """A closed segment, as the index keeps it. ``start``/``end`` are wall-clock (Unix) seconds; inside the file
    a frame ``t`` seconds after the first one is at ``start + t`` (the media timeline is the camera's; ``start``
    is the first frame's camera time on the least receipt − camera offset seen in the segment)."""

    camera_id: str
    relative: str  # path under the storage root, '/'-separated
    start: float
    end: float
    frames: int
    keyframes: int
    size: int
    codec: str
    width: int
    height: int
    params: str  # codec parameters' digest: segments that share it can be joined by stream copy
    reason: str  # rotate | reconnect | dropped | mode | overrun | stopped | error | recovered


def params_digest(codec: str, width: int, height: int, extradata: bytes | None) -> str:
    return hashlib.sha256(f"{codec}:{width}x{height}:".encode() + (extradata or b"")).hexdigest()[:16]


def _stamp(wall: float) -> str:
    when = datetime.fromtimestamp(wall, UTC)
    return when.strftime("%Y%m%dT%H%M%S.") + f"{when.microsecond // 1000:03d}Z"


def _start_of(name: str) -> float | None:
    """The start time written into a segment's file name (None if the name is not one of ours)."""
    stem = name.removesuffix(PART).removesuffix(".mp4")
    try:
        when = datetime.strptime(stem.rsplit("-", 1)[-1], "%Y%m%dT%H%M%S.%fZ")
    except ValueError:
        return None
    return when.replace(tzinfo=UTC).timestamp()


def segment_path(root: Path, camera_id: str, wall: float) -> Path:
    day = datetime.fromtimestamp(wall, UTC).strftime("%Y-%m-%d")
    return root / camera_id / day / f"{camera_id}-{_stamp(wall)}.mp4"


class SegmentWriter:
    """One open segment. Opened on a keyframe; ``write`` each packet of the same connection; ``close`` once.
    Every method may raise OSError (a full disk, a lost mount): the recorder decides what that means."""

    def __init__(self, root: Path, camera_id: str, first: TimedPacket) -> None:
        if not first.keyframe:
            raise ValueError("a segment starts at a keyframe")
        self.root = root
        self.camera_id = camera_id
        self.epoch: Epoch = first.epoch
        self.path = segment_path(root, camera_id, first.wall)
        self.part = self.path.with_name(self.path.name + PART)
        self.part.parent.mkdir(parents=True, exist_ok=True)
        self._base_dts = first.packet.dts or 0
        self._first_pts_s = first.pts_s
        self._last_end_s = first.pts_s
        # receipt time − camera time, its least over the segment: packets arrive late by network delay and in
        # bursts (a camera's GOP cache at connect), never early, so the least is the truest clock offset
        self._offset = first.wall - first.pts_s
        self.frames = 0
        self.keyframes = 0
        self.bytes_in = 0
        self._seconds_per_tick = float(first.epoch.info.time_base)
        self._frame_s = 1 / (first.epoch.info.fps or 25)
        self._out = av.open(str(self.part), "w", format="mp4", options={"movflags": MOVFLAGS})
        self._stream = self._out.add_stream_from_template(first.epoch.stream)

    @property
    def start(self) -> float:
        """Wall time of the first frame: its camera time on the segment's best clock offset (so a burst at
        connect or jitter neither stretches a segment nor makes neighbours overlap)."""
        return self._offset + self._first_pts_s

    @property
    def seconds(self) -> float:
        """Media seconds written so far."""
        return self._last_end_s - self._first_pts_s

    def write(self, item: TimedPacket) -> None:
        packet = item.copy_packet(self._base_dts)
        packet.stream = self._stream
        self._out.mux(packet)
        self.frames += 1
        self.keyframes += int(item.keyframe)
        self.bytes_in += item.packet.size
        duration = item.packet.duration * self._seconds_per_tick if item.packet.duration else self._frame_s
        self._last_end_s = max(self._last_end_s, item.pts_s + duration)
        self._offset = min(self._offset, item.wall - item.pts_s)

    def close(self, reason: str) -> SegmentInfo | None:
        """Finish the file and give it its final name; None (and no file) when not one frame was written."""
        try:
            self._out.close()
        finally:
            if self.frames == 0:
                self.part.unlink(missing_ok=True)
        if self.frames == 0:
            return None
        self.part.replace(self.path)
        info = self.epoch.info
        return SegmentInfo(
            camera_id=self.camera_id, relative=self.path.relative_to(self.root).as_posix(), start=self.start,
            end=self.start + self.seconds, frames=self.frames, keyframes=self.keyframes,
            size=self.path.stat().st_size, codec=info.codec, width=info.width, height=info.height,
            params=params_digest(info.codec, info.width, info.height, self.epoch.stream.codec_context.extradata),
            reason=reason)

    def abandon(self) -> None:
        """After a write failed: close what can be closed and leave the ``.part`` for ``recover`` (it holds the
        GOPs written before the failure)."""
        with contextlib.suppress(Exception):
            self._out.close()


def probe_segment(root: Path, camera_id: str, path: Path, start: float, reason: str) -> SegmentInfo | None:
    """A segment file's index entry read back from the file itself (None when it holds no frame)."""
    frames = keyframes = 0
    first: float | None = None
    last_end = 0.0
    with av.open(str(path)) as probe:
        if not probe.streams.video:
            return None
        stream = probe.streams.video[0]
        cc = stream.codec_context
        codec, width, height, extradata = cc.name, cc.width, cc.height, cc.extradata
        time_base = float(stream.time_base or 1 / 90000)
        try:
            for packet in probe.demux(stream):
                if packet.pts is None or packet.size == 0:
                    continue
                pts = packet.pts * time_base
                if first is None:
                    first = pts  # the first packet in decode order: where the writer put the segment's start
                last_end = max(last_end, pts + (packet.duration or 0) * time_base)
                frames += 1
                keyframes += int(packet.is_keyframe)
        except av.error.FFmpegError:  # a torn last fragment: what came before it is still good
            pass
    if first is None or frames == 0:
        return None
    return SegmentInfo(camera_id=camera_id, relative=path.relative_to(root).as_posix(), start=start,
                       end=start + max(0.0, last_end - first), frames=frames, keyframes=keyframes,
                       size=path.stat().st_size, codec=codec, width=width, height=height,
                       params=params_digest(codec, width, height, extradata), reason=reason)


def recover(root: Path, camera_id: str) -> list[SegmentInfo]:
    """Finish the ``.part`` files a crash left in the camera's directory: each becomes a segment with what it
    holds (an empty or unreadable one is removed). Returns them oldest first, for the index."""
    found: list[SegmentInfo] = []
    folder = root / camera_id
    if not folder.is_dir():
        return found
    for part in sorted(folder.glob(f"*/*.mp4{PART}")):
        start = _start_of(part.name)
        final = part.with_name(part.name.removesuffix(PART))
        info = None
        if start is not None:
            try:
                info = probe_segment(root, camera_id, part, start, "recovered")
            except (av.error.FFmpegError, OSError) as exc:
                log.warning("camera %s: unreadable unfinished segment %s: %s", camera_id, part.name, exc)
        if info is None:
            part.unlink(missing_ok=True)
            continue
        part.replace(final)
        found.append(SegmentInfo(**{**info.__dict__, "relative": final.relative_to(root).as_posix(),
                                    "size": final.stat().st_size}))
    return found
