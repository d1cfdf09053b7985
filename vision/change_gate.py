"""ChangeGate: run the detector only when the analysed part of the picture has changed since it last ran.

Why: a city camera mostly watches a scene that does not move (a pavement, a parking bay, a market street at
night), and the detector is the largest CPU cost per look (~30 ms per frame on a CPU core, bench/analytics/).
When nothing in the zones has changed since the detector last ran, its answer cannot have changed either, so the
analyzer reuses those detections with the new look's time: dwell clocks keep counting, tracks keep their ids.

The change measure is deliberately crude and cheap (~0.1 ms): a 64×36 grey thumbnail of the look, brightness-
neutral (its mean subtracted, so a cloud or the dusk is not a change), compared with the thumbnail of the last
look the detector saw. The thumbnail's pixels are averages of ~10×10 pixels of the analysis frame, so encoder
and sensor noise average out while a person, a cart or a bag covering part of one thumbnail pixel still moves
it by tens of grey levels. Only pixels in (or next to) a zone count: traffic outside every zone cannot change
what any rule sees. Comparing with the last *detected* look rather than the previous one means slow drift adds
up until it counts. And the detector runs at least every ``refresh_seconds`` whatever the thumbnail says, so a
change too small for the thumbnail is late by that much at most, never missed.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from vision.rules_config import DetectorGateSettings

THUMB = (64, 36)  # width, height: ~10×10 frame pixels per thumbnail pixel at the 640 px analysis width
ZONE_MARGIN = 2  # thumbnail pixels around each zone that count too (box edges, the area-averaging blur)


def thumbnail(image: np.ndarray) -> np.ndarray:
    """The look as a brightness-neutral grey thumbnail (float32, mean 0)."""
    small = cv2.resize(image, THUMB, interpolation=cv2.INTER_AREA)
    grey = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY) if small.ndim == 3 else small
    grey = grey.astype(np.float32)
    return grey - float(grey.mean())


def zone_mask(polygons: Sequence[Sequence[tuple[float, float]]]) -> np.ndarray:
    """Thumbnail pixels in or next to any zone (polygons in 0–1 of the picture); every pixel without zones."""
    w, h = THUMB
    if not polygons:
        return np.ones((h, w), bool)
    mask = np.zeros((h, w), np.uint8)
    for polygon in polygons:
        points = np.round(np.asarray(polygon, np.float32) * [w, h]).astype(np.int32)
        cv2.fillPoly(mask, [points], 1)
    kernel = np.ones((2 * ZONE_MARGIN + 1, 2 * ZONE_MARGIN + 1), np.uint8)
    return cv2.dilate(mask, kernel) > 0


class ChangeGate:
    """One camera's decision, per look, between a real detection and reusing the last one.

    Call :meth:`wants_detection` with each look; then :meth:`detected` when the detector ran on it (that look
    becomes the reference) or :meth:`reused` when it did not. Counters say how often each happened.
    """

    def __init__(self, settings: DetectorGateSettings, polygons: Sequence[Sequence[tuple[float, float]]] = ()) -> None:
        self.settings = settings
        self.mask = zone_mask(polygons)
        self.reference: np.ndarray | None = None
        self.reference_mono: float | None = None
        self.last_changed = 0  # changed thumbnail pixels at the last comparison (for tuning and tests)
        self.detections = 0
        self.reuses = 0
        self._pending: tuple[np.ndarray, np.ndarray] | None = None  # (image, its thumbnail)

    def changed_pixels(self, thumb: np.ndarray) -> int:
        """Thumbnail pixels in the zones that differ from the reference by more than the threshold."""
        assert self.reference is not None
        diff = np.abs(thumb - self.reference) > self.settings.pixel_threshold
        return int(np.count_nonzero(diff & self.mask))

    def _thumb(self, image: np.ndarray) -> np.ndarray:
        """The look's thumbnail, computed once per image (the same frame is asked about, then recorded)."""
        if self._pending is not None and self._pending[0] is image:
            return self._pending[1]
        thumb = thumbnail(image)
        self._pending = (image, thumb)
        return thumb

    def wants_detection(self, image: np.ndarray, mono: float) -> bool:
        """Whether the detector must look at this frame (``mono``: the look's monotonic time, as rules use)."""
        if not self.settings.enabled:
            return True
        thumb = self._thumb(image)
        if self.reference is None or self.reference_mono is None:
            return True
        if not mono > self.reference_mono or mono - self.reference_mono >= self.settings.refresh_seconds:
            return True  # forced refresh (or a clock that did not move on: trust nothing)
        self.last_changed = self.changed_pixels(thumb)
        return self.last_changed >= self.settings.min_changed_pixels

    def detected(self, image: np.ndarray, mono: float) -> None:
        """The detector ran on this look: it becomes the reference that later looks are compared with."""
        if self.settings.enabled:
            self.reference, self.reference_mono = self._thumb(image), mono
        self._pending = None
        self.detections += 1

    def reused(self) -> None:
        """A look went without the detector (counted for stats)."""
        self._pending = None
        self.reuses += 1
