"""Stills for evidence: the keyframe of an MP4 clip at a moment, and the size of a JPEG.

An operator who files a case "from a minute ago" must get the picture of that minute, not of now. The ring only
hands out clips (by stream copy), so the picture is taken from the clip: the keyframe at or before the moment,
decoded alone at the stream's full resolution. A keyframe rather than the exact frame because it is what the
wall's still (``CameraSession.snapshot_jpeg``) shows too, so the box the operator drew on that still lands on
the same picture, and because it costs one decode instead of up to a GOP of them.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import av
import cv2
import numpy as np

JPEG_QUALITY = 90  # evidence: better than the tiles' 80


@dataclass(frozen=True)
class Still:
    jpeg: bytes
    width: int
    height: int
    offset: float  # seconds from the clip's first packet to this keyframe


def keyframe_at(clip: bytes, offset: float, quality: int = JPEG_QUALITY) -> Still | None:
    """The keyframe at or before ``offset`` seconds into ``clip`` (an MP4) as JPEG; None when the clip has no
    decodable keyframe there (the first keyframe is taken when ``offset`` falls before it)."""
    with av.open(io.BytesIO(clip), mode="r", format="mp4") as container:
        stream = container.streams.video[0]
        chosen: av.Packet | None = None
        chosen_at, first = 0.0, None
        for packet in container.demux(stream):
            if packet.pts is None or packet.size == 0 or packet.time_base is None:
                continue
            at = float(packet.pts * packet.time_base)
            first = at if first is None else min(first, at)
            if at - first > offset + 1e-3 and chosen is not None:
                break
            if packet.is_keyframe:
                chosen, chosen_at = packet, at - first
        if chosen is None:
            return None
        decoder = stream.codec_context
        frames = list(decoder.decode(chosen)) + list(decoder.decode(None))
    if not frames:
        return None
    frame = frames[0]
    image: np.ndarray = frame.to_ndarray(format="bgr24")
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        return None
    return Still(jpeg=buf.tobytes(), width=frame.width, height=frame.height, offset=chosen_at)


def jpeg_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) of a JPEG, or None when it does not decode."""
    image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_GRAYSCALE)
    if image is None:
        return None
    height, width = image.shape[:2]
    return int(width), int(height)
