"""The picture a paused playback shows at a moment, decoded from the recorded segments (视频立案 from playback).

Why the exact frame and not the keyframe at or before the moment (``streams.stills.keyframe_at``, what the live
filing keeps): an operator who paused a recording on a frame files what is on the screen, and a keyframe up to a
GOP earlier may not show the object yet (a car that drove in within that second). The cost is decoding from that
keyframe to the moment, at most one GOP, a few tens of milliseconds at 1080p. The frame is the one a player
shows at the moment (the last one whose wall time is not after it, on ``streams.playback``'s timeline), at the
recorded stream's full resolution.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import av
import cv2
import numpy as np

from streams.playback import NothingRecorded, SegmentSource, _from, _Reader
from streams.stills import JPEG_QUALITY, Still

TOLERANCE_S = 1e-3  # a player's currentTime + origin lands on a frame's wall time up to rounding


@dataclass(frozen=True)
class RecordedStill:
    still: Still
    wall: float  # Unix time of the frame (at or just before the moment asked for)


def picture_at(sources: list[SegmentSource], at: float, quality: int = JPEG_QUALITY) -> RecordedStill:
    """The frame on screen at wall time ``at`` as JPEG; NothingRecorded when no frame of ``sources`` is at or
    before it (a moment before the recording starts, or in a gap before the first segment given)."""
    reader = _Reader(sources)
    best: tuple[float, av.VideoFrame] | None = None
    try:
        template = reader.template.codec_context
        decoder = av.CodecContext.create(template.name, "r")
        assert isinstance(decoder, av.VideoCodecContext)  # the recording's video stream's codec
        if template.extradata:
            decoder.extradata = template.extradata
        walls: dict[int, float] = {}  # a fed packet's pts → its wall time, until its frame comes out
        past = False

        def take(frames: list[av.VideoFrame]) -> None:
            nonlocal best, past
            for frame in frames:  # in presentation order: once one is past the moment, none before it follows
                wall = walls.pop(frame.pts, None) if frame.pts is not None else None
                if wall is None:
                    continue
                if wall <= at + TOLERANCE_S:
                    best = (wall, frame)
                else:
                    past = True

        for item in _from(reader, at, "before"):
            if item.packet.pts is not None:
                walls[item.packet.pts] = item.wall
            try:
                take(decoder.decode(item.packet))
            except av.error.FFmpegError:  # a damaged packet: the frames around it may still decode
                continue
            if past:
                break
        if not past:
            with contextlib.suppress(av.error.FFmpegError):
                take(decoder.decode(None))  # the frames the decoder still holds (the recording ends there)
    finally:
        reader.close()
    if best is None:
        raise NothingRecorded("nothing recorded at that time")
    wall, frame = best
    image: np.ndarray = frame.to_ndarray(format="bgr24")
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise NothingRecorded("the recorded frame did not encode")
    return RecordedStill(Still(jpeg=buf.tobytes(), width=frame.width, height=frame.height, offset=0.0), wall)
