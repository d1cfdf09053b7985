"""Playback of an H.265 recording as H.264, for a browser whose MediaSource cannot decode H.265.

Why: most public-security cameras send H.265, and a recording is a stream copy of the camera, so without this
an operator at a Chrome or Edge seat without a hardware HEVC decoder could seek and export but see nothing.
The chunk is decoded and re-encoded (libx264 ultrafast, no B-frames, a keyframe where the recording has one),
only while someone plays it back, at the recording's size up to ``MAX_WIDTH``. It costs what a live rendition
costs (docs/performance.md) for each second played, so 8× costs eight times that; exports stay stream copies
(their H.264 copy is ``streams.clip_h264``).

It keeps ``Playback``'s contract: ``first_wall`` (the keyframe at or before the requested time), ``mime``,
``fps`` and the fragmented MP4 bytes on iteration, with media time 0 at ``first_wall``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from fractions import Fraction

import av
from av.video.frame import PictureType

from streams.mp4 import codec_string
from streams.playback import FRAGMENTED, Align, NothingRecorded, SegmentSource, _from, _Reader, _Timed
from streams.remux import _Sink
from streams.sampler import output_size

MAX_WIDTH = 1280
TIME_BASE = Fraction(1, 90000)


class PlaybackH264:
    def __init__(self, sources: list[SegmentSource], start: float, seconds: float, align: Align = "before") -> None:
        self.reader = _Reader(sources)
        self.seconds = seconds
        self._packets = _from(self.reader, start, align)
        first = next(self._packets, None)
        if first is None:
            self.reader.close()
            raise NothingRecorded("nothing recorded at or after that time")
        self.first_wall = first.wall
        self.codec = "h264"
        self.fps = self.reader.fps
        template = self.reader.template.codec_context
        decoder = av.CodecContext.create(template.name, "r")
        assert isinstance(decoder, av.VideoCodecContext)  # the recording's video stream's codec
        self._decoder = decoder
        if template.extradata:
            self._decoder.extradata = template.extradata
        self._decoder.thread_type = "SLICE"  # frame threading would hold frames back
        self._walls: dict[int, float] = {}  # a fed packet's pts → its wall time, until its frame comes out
        self._size = output_size((template.width, template.height), min(template.width, MAX_WIDTH), None)
        self._sink = _Sink()
        self._out: av.container.OutputContainer | None = av.open(self._sink, "w", format="mp4",
                                                                  options={"movflags": FRAGMENTED})
        encoder = self._out.add_stream("libx264", rate=max(1, round(self.fps)), options={
            "preset": "ultrafast", "tune": "zerolatency", "bf": "0", "g": str(max(1, round(self.fps * 2)))})
        encoder.width, encoder.height = self._size
        encoder.pix_fmt = "yuv420p"
        encoder.codec_context.time_base = TIME_BASE
        encoder.time_base = TIME_BASE
        self._encoder = encoder
        self._last_pts = -1
        self._head = b""
        while not self._head:  # the first encoded frame writes the init segment (and its first fragment)
            self._encode(first)
            self._head = self._sink.take()
            if not self._head:
                first = next(self._packets, None)
                if first is None:
                    self.close()
                    raise NothingRecorded("nothing decodable at or after that time")
        string = codec_string(self._head)
        self.mime = f'video/mp4; codecs="{string}"' if string else "video/mp4"

    def _encode(self, item: _Timed | None) -> None:
        """Decode ``item`` (None: flush the decoder) and encode what comes out, on the wall-time timeline."""
        assert self._out is not None
        if item is not None and item.packet.pts is not None:
            self._walls[item.packet.pts] = item.wall
        try:
            frames = self._decoder.decode(item.packet if item is not None else None)
        except av.error.FFmpegError:
            return
        width, height = self._size
        for frame in frames:
            wall = self._walls.pop(frame.pts, None) if frame.pts is not None else None
            if wall is None:
                continue
            pts = round((wall - self.first_wall) / TIME_BASE)
            if pts <= self._last_pts:
                continue
            self._last_pts = pts
            scaled = frame.reformat(width=width, height=height, format="yuv420p")
            scaled.pts, scaled.time_base = pts, TIME_BASE
            if frame.key_frame:
                scaled.pict_type = PictureType.I  # the player seeks to where the recording has keyframes
            for packet in self._encoder.encode(scaled):
                self._out.mux(packet)

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield self._head
            end = self.first_wall + self.seconds
            for item in self._packets:
                if item.keyframe and item.wall >= end:
                    break
                self._encode(item)
                data = self._sink.take()
                if data:
                    yield data
            if self._out is not None:
                self._encode(None)
                self._out.mux(self._encoder.encode(None))
            self.close()
            tail = self._sink.take()
            if tail:
                yield tail
        finally:
            self.close()

    def close(self) -> None:
        out, self._out = self._out, None
        if out is not None:
            with contextlib.suppress(Exception):
                out.close()
        self.reader.close()
