"""An export of a recorded range re-encoded to H.264 (``/api/playback/{camera}/export.mp4?codec=h264``), in one
pass from the segment files, stoppable between any two frames.

Why not ``streams.playback.export`` followed by ``streams.clip_h264.h264_copy``: that copy runs to its end
whatever happens, so an operator who closes the tab after asking for an hour of an H.265 camera as H.264 would
keep one of the box's few transcode slots (``recording.max_transcodes``) busy for minutes, refusing everyone
else. Here the route hands in a ``threading.Event`` it sets when the client goes away; the loop looks at it
before each packet (a decode and an encode: milliseconds), so the slot comes back within a frame's work. One
pass also skips the intermediate stream-copied file.

The frames and their times are the stream copy's: from the keyframe at or before ``start`` to the last frame
before ``end`` (the duration matches the range within one GOP), each at its wall time less the first frame's,
so a gap in the recording stays a gap on the file's timeline. libx264 ``veryfast`` CRF 23 and ``+faststart``
like the evidence clips' H.264 copies, the picture's width kept up to ``MAX_WIDTH``.
"""

from __future__ import annotations

import threading
from fractions import Fraction
from pathlib import Path

import av

from streams.playback import Exported, NothingRecorded, SegmentSource, _from, _Reader
from streams.sampler import output_size

MAX_WIDTH = 1280
TIME_BASE = Fraction(1, 90000)


class ExportStopped(Exception):
    """The caller set the stop event (its client went away): the file is incomplete and should be deleted."""


def export_h264(sources: list[SegmentSource], start: float, end: float, dst: Path, stop: threading.Event,
                max_width: int = MAX_WIDTH) -> Exported:
    """[start, end] of the recording as one H.264 MP4 at ``dst``; raises ExportStopped once ``stop`` is set and
    NothingRecorded when no frame lies in the range. ``dst`` is removed on either."""
    reader = _Reader(sources)
    walls: dict[int, float] = {}  # a fed packet's pts → its wall time, until its frame comes out
    first: float | None = None
    last, frames, last_pts = 0.0, 0, -1
    try:
        template = reader.template.codec_context
        decoder = av.CodecContext.create(template.name, "r")
        assert isinstance(decoder, av.VideoCodecContext)
        if template.extradata:
            decoder.extradata = template.extradata
        decoder.thread_type = "AUTO"  # an export waits for the whole file: frame threading's delay costs nothing
        width, height = output_size((template.width, template.height), min(template.width, max_width), None)
        with av.open(str(dst), "w", format="mp4", options={"movflags": "+faststart"}) as out:
            encoder = out.add_stream("libx264", rate=max(1, round(reader.fps)),
                                     options={"preset": "veryfast", "crf": "23"})
            encoder.width, encoder.height, encoder.pix_fmt = width, height, "yuv420p"
            encoder.codec_context.time_base = TIME_BASE
            encoder.time_base = TIME_BASE

            def encode(packet: av.Packet | None) -> None:
                nonlocal first, last, frames, last_pts
                try:
                    decoded = decoder.decode(packet)
                except av.error.FFmpegError:  # a damaged packet (a torn segment's end): skip it, as a player would
                    return
                for frame in decoded:
                    wall = walls.pop(frame.pts, None) if frame.pts is not None else None
                    if wall is None:
                        continue
                    if first is None:
                        first = wall
                    pts = round((wall - first) / TIME_BASE)
                    if pts <= last_pts:
                        continue
                    last_pts, last, frames = pts, wall, frames + 1
                    scaled = frame.reformat(width=width, height=height, format="yuv420p")
                    scaled.pts, scaled.time_base = pts, TIME_BASE
                    out.mux(encoder.encode(scaled))

            for fed, item in enumerate(_from(reader, start, "before")):
                if stop.is_set():
                    raise ExportStopped("the export was stopped")
                if item.wall >= end and fed > 0:
                    break
                if item.packet.pts is not None:
                    walls[item.packet.pts] = item.wall
                encode(item.packet)
            if stop.is_set():
                raise ExportStopped("the export was stopped")
            encode(None)  # the decoder's held-back frames
            out.mux(encoder.encode(None))
    except BaseException:
        dst.unlink(missing_ok=True)
        raise
    finally:
        reader.close()
    if first is None:
        dst.unlink(missing_ok=True)
        raise NothingRecorded("nothing recorded in that range")
    return Exported(dst, first, last, frames, last - first + 1 / reader.fps, "h264")
