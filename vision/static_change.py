"""Static-change detection: garbage that no detector class covers.

A zone learns its empty background from the looks themselves (a running average in grey at low resolution).
What differs from it, is not explained by a person or vehicle box, and is big enough, is a *candidate*; the
place/dwell logic then demands that it stays. Changed pixels are learned into the background 50× more slowly
than unchanged ones, so a bag left on the pavement stays visible for hours while a lasting change of the scene
(a new kiosk) is eventually accepted as the new normal.
"""

from __future__ import annotations

import cv2
import numpy as np

from vision.rules_config import StaticChangeSettings

WORK_WIDTH = 320  # analysis resolution: small objects still cover tens of pixels, cost stays negligible
SLOW_FACTOR = 50.0


class StaticChangeDetector:
    def __init__(self, settings: StaticChangeSettings, polygon_px: np.ndarray, frame_size: tuple[int, int]) -> None:
        w, h = frame_size
        self.settings = settings
        self.scale = WORK_WIDTH / w
        self.size = (WORK_WIDTH, max(2, round(h * self.scale)))
        mask = np.zeros((self.size[1], self.size[0]), np.uint8)
        cv2.fillPoly(mask, [np.round(polygon_px * self.scale).astype(np.int32)], 255)
        self.zone_mask = mask > 0
        self.background: np.ndarray | None = None
        self.kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))

    def _grey(self, image: np.ndarray) -> np.ndarray:
        small = cv2.resize(image, self.size, interpolation=cv2.INTER_AREA)
        grey = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY) if small.ndim == 3 else small
        return cv2.GaussianBlur(grey, (5, 5), 0).astype(np.float32)

    def update(self, image: np.ndarray, explained: np.ndarray) -> np.ndarray:
        """Return changed blobs as boxes (x1, y1, x2, y2 in the image's pixels) and learn the background.

        ``explained``: boxes (N×4, image pixels) of persons and vehicles; change under them is theirs, not litter.
        """
        grey = self._grey(image)
        if self.background is None or self.background.shape != grey.shape:
            self.background = grey.copy()
            return np.zeros((0, 4), np.float32)
        diff = np.abs(grey - self.background)
        # Global light changes (clouds, dusk) shift every pixel alike: compare against the zone's typical change.
        diff = np.clip(diff - float(np.median(diff[self.zone_mask])) if self.zone_mask.any() else diff, 0, None)
        changed = (diff > self.settings.threshold) & self.zone_mask
        cover = np.zeros_like(changed)
        for x1, y1, x2, y2 in np.asarray(explained, np.float32).reshape(-1, 4) * self.scale:
            pad_x, pad_y = 0.1 * (x2 - x1), 0.1 * (y2 - y1)
            cover[max(0, int(y1 - pad_y)) : int(y2 + pad_y) + 1, max(0, int(x1 - pad_x)) : int(x2 + pad_x) + 1] = True
        candidate = (changed & ~cover).astype(np.uint8)
        candidate = cv2.morphologyEx(candidate, cv2.MORPH_OPEN, self.kernel)
        candidate = cv2.morphologyEx(candidate, cv2.MORPH_CLOSE, self.kernel)
        count, _, stats, _ = cv2.connectedComponentsWithStats(candidate, connectivity=8)
        min_px = self.settings.min_area * self.size[0] * self.size[1]
        keep = [i for i in range(1, count) if stats[i, cv2.CC_STAT_AREA] >= min_px]
        boxes = np.array(
            [[stats[i, 0], stats[i, 1], stats[i, 0] + stats[i, 2], stats[i, 1] + stats[i, 3]] for i in keep],
            np.float32,
        ).reshape(-1, 4) / self.scale
        # Learn: fast where nothing changed, slowly where something did, not at all under persons/vehicles.
        rate = np.where(changed, self.settings.learn_rate / SLOW_FACTOR, self.settings.learn_rate).astype(np.float32)
        rate[cover] = 0.0
        self.background += rate * (grey - self.background)
        return boxes
