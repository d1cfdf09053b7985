"""Cameras for the learning loop test (tests/test_learning_loop.py): real sample clips with synthetic objects.

No street footage with piled goods or garbage exists on this machine, so a synthetic object stands in for them:
a striped awning over a blue crate with a yellow sign ("the goods"), drawn with OpenCV and pasted into frames of
the real sample clips (wall/demo_site/media). A *decoy* is what fools the static-change detector the COCO card
relies on for garbage: a patch of sunlight on the floor — a change that stays, with no object in it.

Each camera's clip follows a timeline of segments (arrivals and departures), so the site's live analytics raise
their own cases on them: goods in the zone (some with more goods outside it, for the operator to draw), a decoy in
the zone (the operator rejects it), goods outside the zone only (the analytics cannot see them: the operator files
them via 视频立案). The operator's eyes are :func:`goods_seen`: which of the places the goods can stand at show them
in a picture — what a person at the desk sees, not what the clip generator knows about time (the stream's clock
and the test's are not the same).
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Iterator
from pathlib import Path

import av
import cv2
import numpy as np

from wall.demo import MEDIA

SIZE = (640, 360)  # what the cameras send: the analytics' width, so the clean frame is the camera's picture
FPS, GOP = 5, 5  # a keyframe a second: the filing still is at most a second old
ZONE_TOP = 0.45  # the garbage zone is the lower part of the picture; goods above it are the operator's to file
Box = tuple[int, int, int, int]


@dataclasses.dataclass(frozen=True)
class Segment:
    start: float
    end: float
    goods: tuple[Box, ...] = ()
    decoy: Box | None = None


def goods_box(rng: random.Random, *, in_zone: bool) -> Box:
    """Where one piece of goods stands (pixels of SIZE): in the zone (its bottom and most of it below ZONE_TOP) or
    wholly above it."""
    w, h = SIZE
    bw, bh = rng.randint(100, 150), rng.randint(70, 100)
    x = rng.randint(10, w - bw - 10)
    y = rng.randint(int(ZONE_TOP * h) + 15, h - bh - 8) if in_zone else rng.randint(4, int(ZONE_TOP * h) - bh - 8)
    return x, y, x + bw, y + bh


def draw_goods(image: np.ndarray, box: Box) -> None:
    """The synthetic object, filling its box: red and white stripes over a dark blue crate with a yellow sign."""
    x0, y0, x1, y1 = box
    bw, bh = x1 - x0, y1 - y0
    for k in range(0, bw, 16):
        cv2.rectangle(image, (x0 + k, y0), (x0 + min(k + 8, bw) - 1, y0 + bh // 3), (0, 0, 230), -1)
        cv2.rectangle(image, (x0 + min(k + 8, bw), y0), (x0 + min(k + 16, bw) - 1, y0 + bh // 3), (255, 255, 255), -1)
    cv2.rectangle(image, (x0, y0 + bh // 3), (x1 - 1, y1 - 1), (140, 50, 10), -1)
    cv2.circle(image, (x0 + bw // 2, y0 + 2 * bh // 3), bh // 6, (0, 220, 255), -1)


def draw_decoy(image: np.ndarray, box: Box) -> None:
    """A patch of sunlight: the floor brighter in a soft ellipse, nothing on it."""
    x0, y0, x1, y1 = box
    shape = np.zeros(image.shape[:2], np.float32)
    cv2.ellipse(shape, ((x0 + x1) // 2, (y0 + y1) // 2), ((x1 - x0) // 2, (y1 - y0) // 2), 0, 0, 360, 1.0, -1)
    mask = cv2.GaussianBlur(shape, (21, 21), 0)[..., None]
    lit = image.astype(np.float32) * (1 - 0.7 * mask) + 255 * 0.7 * mask
    image[:] = np.clip(lit, 0, 255).astype(np.uint8)


def _apart(rng: random.Random, count: int, *, in_zone: bool, taken: tuple[Box, ...] = ()) -> tuple[Box, ...]:
    """``count`` places of goods that neither touch each other nor ``taken`` (no goods hides another)."""
    boxes: list[Box] = []
    while len(boxes) < count:
        box = goods_box(rng, in_zone=in_zone)
        grown = (box[0] - 8, box[1] - 8, box[2] + 8, box[3] + 8)
        if all(overlap(grown, other) == 0 for other in (*boxes, *taken)):
            boxes.append(box)
    return tuple(boxes)


def timeline(seed: int, lead: float = 10.0) -> list[Segment]:
    """Segments of 5 s (the zone forgets a place 1.5 s after it is left): two pieces of goods in the zone and one
    above it; goods above the zone only; a decoy; goods above the zone only; another decoy; two pieces in the zone
    again. A case's clip runs from 5 s before the first sighting to 5 s after the raise, so nothing stands in the
    zone within 5 s of a decoy: its clip shows the sunlight and nothing else a card could raise on. ``lead``
    seconds of empty scene first: the static-change detector learns the empty background from its first looks,
    which come once the service has connected to the camera and decoded a keyframe."""
    rng = random.Random(seed)
    first = _apart(rng, 2, in_zone=True)
    plan: list[tuple[float, tuple[Box, ...], Box | None]] = [
        (lead, (*first, *_apart(rng, 1, in_zone=False)), None),
        (lead + 7, _apart(rng, 1, in_zone=False), None),
        (lead + 14, (), goods_box(rng, in_zone=True)),
        (lead + 21, _apart(rng, 1, in_zone=False), None),
        (lead + 28, (), goods_box(rng, in_zone=True)),
        (lead + 37, _apart(rng, 2, in_zone=True), None)]
    return [Segment(t, t + 5.0, goods, decoy) for t, goods, decoy in plan]


def backgrounds(name: str, starts: list[int], *, mirror: list[bool], skip: int = 2,
                count: int = 80) -> list[list[np.ndarray]]:
    """For each start frame, ``count`` frames of a real sample clip at SIZE (every ``skip``-th), in one decoding
    pass; looped forwards then backwards by :func:`write_camera` (no jump where the loop closes: the
    static-change detector would see one)."""
    sections: list[list[np.ndarray]] = [[] for _ in starts]
    last = max(starts) + skip * count
    with av.open(str(MEDIA / name)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i >= last:
                break
            wanted = [k for k, start in enumerate(starts)
                      if start <= i < start + skip * count and (i - start) % skip == 0]
            if not wanted:
                continue
            image = cv2.resize(frame.to_ndarray(format="bgr24"), SIZE, interpolation=cv2.INTER_AREA)
            for k in wanted:
                sections[k].append(cv2.flip(image, 1) if mirror[k] else image)
    return sections


def _pingpong(frames: list[np.ndarray]) -> Iterator[np.ndarray]:
    while True:
        yield from frames
        yield from frames[-2:0:-1]


def write_camera(path: Path, frames: list[np.ndarray], segments: list[Segment], seconds: float,
                 fixed: tuple[Box, ...] = ()) -> Path:
    """An H.264 clip of ``seconds`` at FPS (GOP of a second, no B-frames: as a camera's sub-stream) with the
    timeline's objects pasted in, and ``fixed`` goods there from the first frame to the last."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = SIZE[0], SIZE[1], "yuv420p"
        stream.options = {"g": str(GOP), "keyint_min": str(GOP), "sc_threshold": "0", "bf": "0",
                          "preset": "ultrafast"}
        source = _pingpong(frames)
        for i in range(int(seconds * FPS)):
            t = i / FPS
            image = next(source).copy()
            for seg in segments:
                if seg.start <= t < seg.end:
                    if seg.decoy is not None:
                        draw_decoy(image, seg.decoy)
                    for box in seg.goods:
                        draw_goods(image, box)
            for box in fixed:
                draw_goods(image, box)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def goods_seen(image: np.ndarray, places: list[Box], tolerance: float = 40.0) -> list[Box]:
    """The operator's eyes: the places (pixels of SIZE) where ``image`` shows the goods — the picture there looks
    like the goods drawn there (mean absolute difference under ``tolerance`` grey levels), whatever the picture's
    own size."""
    sx, sy = image.shape[1] / SIZE[0], image.shape[0] / SIZE[1]
    picture = cv2.resize(image, SIZE, interpolation=cv2.INTER_AREA) if (sx, sy) != (1.0, 1.0) else image
    seen: list[Box] = []
    for box in places:
        x0, y0, x1, y1 = box
        drawn = picture.copy()
        draw_goods(drawn, box)
        diff = np.abs(drawn[y0:y1, x0:x1].astype(np.int16) - picture[y0:y1, x0:x1].astype(np.int16))
        if float(diff.mean()) < tolerance:
            seen.append(box)
    return seen


def normalised(box: Box) -> list[float]:
    """A box in 0–1 of the picture, as the desk and the filing dialog take it."""
    return [round(box[0] / SIZE[0], 4), round(box[1] / SIZE[1], 4), round(box[2] / SIZE[0], 4),
            round(box[3] / SIZE[1], 4)]


def overlap(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    """Intersection over union of two x0, y0, x1, y1 boxes."""
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h
    return w * h / union if union > 0 else 0.0
