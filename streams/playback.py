"""Reading recordings back: segment files → fragmented MP4 for the page's player (seek), or one MP4 (export).

Both are stream copies of the recorded packets, never a decode: a seek costs reading the segment up to the
requested time (demuxing a minute of packets takes milliseconds), so the first picture is there in well under a
second. Times are wall-clock throughout. A segment's first packet was received at its ``start``, and each packet
sits ``pts - first pts`` after it; the output's media time 0 is the wall time of its first frame (``first_wall``),
the keyframe at or before the requested time, so the player turns ``currentTime`` into a wall time by adding it.

Playback chunks run over segments that join without a gap and with the same codec parameters (the caller's
plan says which); they end at the first keyframe at or after ``start + seconds``, so the next chunk, asked for
with ``align="after"`` from there, continues exactly where this one stopped.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Literal

import av

from streams.mp4 import codec_string
from streams.remux import _Sink

FRAGMENTED = "frag_keyframe+empty_moov+default_base_moof"
Align = Literal["before", "after"]


class NothingRecorded(Exception):
    """No recorded frame at or after the requested time in the given segments."""


@dataclass(frozen=True)
class SegmentSource:
    path: Path
    start: float  # wall time of its first frame


@dataclass
class _Timed:
    packet: av.Packet
    wall: float
    keyframe: bool


class _Reader:
    """The packets of consecutive segments, each with its wall time; the first segment's stream is the template."""

    def __init__(self, sources: list[SegmentSource]) -> None:
        if not sources:
            raise NothingRecorded("no segment")
        self.sources = sources
        self._open: list[av.container.InputContainer] = []
        first = self._container(sources[0].path)
        self.template = first.streams.video[0]
        self.time_base: Fraction = self.template.time_base or Fraction(1, 90000)
        self.fps = float(self.template.average_rate or self.template.guessed_rate or 25)

    def _container(self, path: Path) -> av.container.InputContainer:
        container = av.open(str(path))
        self._open.append(container)
        return container

    def packets(self) -> Iterator[_Timed]:
        """Each segment's packets at ``start + (pts - first pts)``; a segment that would begin before the
        previous one ended (segments indexed by an older recorder, receipt times in a burst) is moved after it,
        so the output's timestamps always rise."""
        floor = float("-inf")
        frame_s = 1 / self.fps
        for n, source in enumerate(self.sources):
            container = self._open[0] if n == 0 else self._container(source.path)
            stream = container.streams.video[0]
            tb = float(stream.time_base or self.time_base)
            first_pts: int | None = None
            start = source.start
            try:
                for packet in container.demux(stream):
                    if packet.pts is None or packet.size == 0:
                        continue
                    if first_pts is None:
                        first_pts = packet.pts
                        start = max(start, floor)
                    wall = start + (packet.pts - first_pts) * tb
                    floor = max(floor, wall + frame_s)
                    yield _Timed(packet, wall, bool(packet.is_keyframe))
            except av.error.InvalidDataError:  # a torn last fragment (a recovered segment): the rest is good
                continue

    def close(self) -> None:
        for container in self._open:
            with contextlib.suppress(Exception):
                container.close()
        self._open.clear()


def _from(reader: _Reader, start: float, align: Align) -> Iterator[_Timed]:
    """Packets from the keyframe at or before ``start`` (``before``), or the first one at or after it."""
    gop: list[_Timed] = []
    started = False
    for item in reader.packets():
        if started:
            yield item
            continue
        if item.keyframe:
            if item.wall >= start - 1e-3:
                started = True
                if align == "before" and gop and item.wall > start + 1e-3:
                    yield from gop
                yield item
                continue
            gop = [item]
        elif gop:
            gop.append(item)
    if not started and align == "before" and gop:
        yield from gop


class Playback:
    """One playback chunk as fragmented MP4 bytes. Constructing it finds the first frame and writes the init
    segment, so ``first_wall`` and ``mime`` (the MediaSource type, from the init's avcC/hvcC) are known before
    the body is sent; iterate it for the bytes, on a worker thread.

    This class is the stream copy; ``streams.playback_h264.PlaybackH264`` re-encodes by overriding the three
    steps that differ (``_begin``, ``_feed``, ``_flush``): the reading, the chunk's end at a keyframe, the
    fragments' hand-over and the closing are this class's alone, so the two can never end a chunk differently."""

    def __init__(self, sources: list[SegmentSource], start: float, seconds: float, align: Align = "before") -> None:
        self.reader = _Reader(sources)
        self.seconds = seconds
        self._packets = _from(self.reader, start, align)
        first = next(self._packets, None)
        if first is None:
            self.reader.close()
            raise NothingRecorded("nothing recorded at or after that time")
        self.first_wall = first.wall
        self.codec = self.reader.template.codec_context.name
        self.fps = self.reader.fps
        self._sink = _Sink()
        self._out: av.container.OutputContainer | None = av.open(self._sink, "w", format="mp4",
                                                                  options={"movflags": FRAGMENTED})
        try:
            self._head = self._begin(first)  # ftyp + moov at least (empty_moov: written before the first fragment)
        except BaseException:
            self.close()
            raise
        string = codec_string(self._head)
        self.mime = f'video/mp4; codecs="{string}"' if string else "video/mp4"

    def _begin(self, first: _Timed) -> bytes:
        """Add the output stream, feed ``first`` and return the init segment the muxer wrote."""
        assert self._out is not None
        self._stream = self._out.add_stream_from_template(self.reader.template)
        if self.codec == "hevc":
            self._stream.codec_tag = "hvc1"  # what MediaSource accepts for HEVC
        self._feed(first)
        return self._sink.take()

    def _feed(self, item: _Timed) -> None:
        """One packet of the chunk onto the output."""
        assert self._out is not None
        _mux(self._out, self._stream, item, self.first_wall, self.reader.time_base)

    def _flush(self) -> None:
        """What is still held back once the last packet is fed (a stream copy holds nothing)."""

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield self._head
            end = self.first_wall + self.seconds
            for item in self._packets:
                if item.keyframe and item.wall >= end:
                    break
                self._feed(item)
                data = self._sink.take()
                if data:
                    yield data
            if self._out is not None:
                self._flush()
            self.close()
            tail = self._sink.take()
            if tail:
                yield tail
        finally:
            self.close()

    def close(self) -> None:
        """Finish the muxer (its last fragment) and the inputs; safe to call twice, or without iterating."""
        out, self._out = self._out, None
        if out is not None:
            with contextlib.suppress(Exception):
                out.close()
        self.reader.close()


def _mux(out: av.container.OutputContainer, stream: av.VideoStream, item: _Timed, origin: float,
         tb: Fraction) -> None:
    """Put ``item`` on the output timeline: its wall time less ``origin``, in the template's time base (the
    decode-order offset of a B-frame stream kept)."""
    src = item.packet
    packet = av.Packet(bytes(src))
    pts = round((item.wall - origin) / tb)
    delay = (src.pts - src.dts) if src.pts is not None and src.dts is not None else 0
    packet.pts, packet.dts = pts, pts - delay
    packet.duration = src.duration
    packet.time_base = tb
    packet.is_keyframe = item.keyframe
    packet.stream = stream
    out.mux(packet)


@dataclass(frozen=True)
class Exported:
    path: Path
    first_wall: float
    last_wall: float
    frames: int
    duration: float
    codec: str


def export(sources: list[SegmentSource], start: float, end: float, dst: Path) -> Exported:
    """[start, end] of the recording as one MP4 (``+faststart``, any player), from the keyframe at or before
    ``start``: the duration matches the range within one GOP. A gap inside (the camera was offline) stays a gap
    on the file's timeline, so every frame keeps its time."""
    reader = _Reader(sources)
    frames = 0
    first: float | None = None
    last = 0.0
    try:
        with av.open(str(dst), "w", format="mp4", options={"movflags": "+faststart"}) as out:
            stream = out.add_stream_from_template(reader.template)
            for item in _from(reader, start, "before"):
                if item.wall >= end and frames > 0:
                    break
                if first is None:
                    first = item.wall
                _mux(out, stream, item, first, reader.time_base)
                frames += 1
                last = item.wall
        codec = reader.template.codec_context.name
    finally:
        reader.close()
    if first is None:
        dst.unlink(missing_ok=True)
        raise NothingRecorded("nothing recorded in that range")
    return Exported(dst, first, last, frames, last - first + 1 / reader.fps, codec)
