"""Clearance watch (视频核查): after a case is dispatched, the same camera checks whether the problem is gone.

Given the place of an event (its box) the watch looks at what the zone's rule sees there on later looks: absent
for ``absent_seconds`` in a row → ``cleared`` (with an after-snapshot, closing the loop without an inspector);
still there when the deadline passes → ``still_present``. Presence is judged by overlap with the place's box,
so a different object elsewhere in the zone neither clears nor blocks the verdict.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

Verdict = Literal["cleared", "still_present"]


def overlaps(box: np.ndarray, others: list[np.ndarray], min_cover: float = 0.3) -> bool:
    """Whether any box covers at least ``min_cover`` of ``box`` (or ``box`` covers that much of it)."""
    if not others:
        return False
    b = np.asarray(box, np.float32)
    o = np.asarray(others, np.float32).reshape(-1, 4)
    iw = np.clip(np.minimum(b[2], o[:, 2]) - np.maximum(b[0], o[:, 0]), 0, None)
    ih = np.clip(np.minimum(b[3], o[:, 3]) - np.maximum(b[1], o[:, 1]), 0, None)
    inter = iw * ih
    area_b = max(1e-6, float((b[2] - b[0]) * (b[3] - b[1])))
    area_o = np.maximum(1e-6, (o[:, 2] - o[:, 0]) * (o[:, 3] - o[:, 1]))
    return bool(np.any((inter / area_b >= min_cover) | (inter / area_o >= min_cover)))


@dataclass
class ClearanceWatch:
    event_id: str
    zone_id: str
    box: np.ndarray
    absent_seconds: float
    deadline: float  # monotonic time after which a present object means "still present"
    absent_since: float | None = None
    done: bool = False

    def update(self, t: float, boxes: list[np.ndarray]) -> Verdict | None:
        """Feed one look's sightings of the zone; returns a verdict once, then stays done."""
        if self.done:
            return None
        if overlaps(self.box, boxes):
            self.absent_since = None
            if t >= self.deadline:
                self.done = True
                return "still_present"
            return None
        if self.absent_since is None:
            self.absent_since = t
        if t - self.absent_since >= self.absent_seconds:
            self.done = True
            return "cleared"
        return None
