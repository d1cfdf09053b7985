"""PTZ-moved guard: zones are drawn for one view; when the camera is turned away, rules must pause, not fire.

A tiny grey thumbnail of the usual view is the reference. When most of the picture differs from it for two
looks running, the camera is flagged ``moved`` and its rules pause; when the view comes back (or an admin
accepts the new view with :meth:`reset`), they resume. People and cars change a fraction of the picture, never
most of it.
"""

from __future__ import annotations

import cv2
import numpy as np

THUMB = (64, 36)
PIXEL_DIFF = 40.0
MOVED_FRACTION = 0.5
BACK_FRACTION = 0.25
LEARN = 0.02


class SceneGuard:
    def __init__(self) -> None:
        self.reference: np.ndarray | None = None
        self.moved = False
        self._streak = 0
        self.last_fraction = 0.0

    def _thumb(self, image: np.ndarray) -> np.ndarray:
        small = cv2.resize(image, THUMB, interpolation=cv2.INTER_AREA)
        grey = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY).astype(np.float32)
        return grey - float(grey.mean())  # brightness-neutral: dusk is not a PTZ move

    def update(self, image: np.ndarray) -> bool:
        """Feed one look; returns True while the camera is considered moved away from its preset."""
        thumb = self._thumb(image)
        if self.reference is None:
            self.reference = thumb
            return False
        fraction = float(np.mean(np.abs(thumb - self.reference) > PIXEL_DIFF))
        self.last_fraction = fraction
        if not self.moved:
            self._streak = self._streak + 1 if fraction > MOVED_FRACTION else 0
            if self._streak >= 2:
                self.moved, self._streak = True, 0
            elif fraction <= BACK_FRACTION:
                self.reference += LEARN * (thumb - self.reference)
        else:
            self._streak = self._streak + 1 if fraction <= BACK_FRACTION else 0
            if self._streak >= 2:
                self.moved, self._streak = False, 0
        return self.moved

    def reset(self) -> None:
        """Accept the current view as the preset (after an admin redraws zones for it)."""
        self.reference, self.moved, self._streak = None, False, 0
