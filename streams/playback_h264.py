"""Playback of an H.265 recording as H.264, for a browser whose MediaSource cannot decode H.265.

Why: most public-security cameras send H.265, and a recording is a stream copy of the camera, so without this
an operator at a Chrome or Edge seat without a hardware HEVC decoder could seek and export but see nothing.
The chunk is decoded and re-encoded (libx264 ultrafast, no B-frames, a keyframe where the recording has one),
only while someone plays it back, at the recording's size up to ``MAX_WIDTH``. It costs what a live rendition
costs (docs/performance.md) for each second played, so 8× costs eight times that; exports stay stream copies
(their H.264 copy, on request, is ``streams.export_h264``).

It is a ``Playback`` whose packets are re-encoded, so it keeps that contract: ``first_wall`` (the keyframe at or
before the requested time), ``mime``, ``fps`` and the fragmented MP4 bytes on iteration, with media time 0 at
``first_wall``.
"""

from __future__ import annotations

from fractions import Fraction

import av
from av.video.frame import PictureType

from streams.playback import NothingRecorded, Playback, _Timed
from streams.sampler import output_size

MAX_WIDTH = 1280
TIME_BASE = Fraction(1, 90000)


class PlaybackH264(Playback):
    """``Playback`` with the packets decoded and re-encoded instead of copied: only the output stream, the feed
    of one packet and the flush at the end differ (the chunk's reading, end and closing are the base's)."""

    def _begin(self, first: _Timed | None) -> bytes:
        assert self._out is not None
        self.codec = "h264"
        template = self.reader.template.codec_context
        decoder = av.CodecContext.create(template.name, "r")
        assert isinstance(decoder, av.VideoCodecContext)  # the recording's video stream's codec
        self._decoder = decoder
        if template.extradata:
            self._decoder.extradata = template.extradata
        self._decoder.thread_type = "SLICE"  # frame threading would hold frames back
        self._walls: dict[int, float] = {}  # a fed packet's pts → its wall time, until its frame comes out
        self._size = output_size((template.width, template.height), min(template.width, MAX_WIDTH), None)
        encoder = self._out.add_stream("libx264", rate=max(1, round(self.fps)), options={
            "preset": "ultrafast", "tune": "zerolatency", "bf": "0", "g": str(max(1, round(self.fps * 2)))})
        encoder.width, encoder.height = self._size
        encoder.pix_fmt = "yuv420p"
        encoder.codec_context.time_base = TIME_BASE
        encoder.time_base = TIME_BASE
        self._encoder = encoder
        self._last_pts = -1
        head = b""
        while not head:  # the first encoded frame writes the init segment (and its first fragment)
            if first is None:
                raise NothingRecorded("nothing decodable at or after that time")
            self._feed(first)
            head = self._sink.take()
            if not head:
                first = next(self._packets, None)
        return head

    def _feed(self, item: _Timed | None) -> None:
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

    def _flush(self) -> None:
        """The decoder's held-back frames, then the encoder's."""
        assert self._out is not None
        self._feed(None)
        self._out.mux(self._encoder.encode(None))
