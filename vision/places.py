"""Dwell timed per *place*, not per track id: a tracker's id switch or a brief occlusion must not restart the clock.

A zone's picture area is cut into square cells (``cell`` × frame width). Something seen at a look is credited to
the place it started at if it is still within one cell of it, else it opens a new place. A place accumulates dwell
while it keeps being seen with gaps no longer than ``grace``; it raises an event once dwell ≥ T, N of the last M
looks saw it, the zone is in schedule and the place's alarm interval has passed; the event ends once the place
has been empty for ``clear_after``. One event per place and problem, however many frames.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from vision.rules_config import ZoneConfig

Change = Literal["opened", "updated", "cleared", "still_present"]
UPDATE_EVERY_SECONDS = 60.0  # how often an open event reports that it is still there (fresh box, dwell)


@dataclass
class Place:
    cell: tuple[int, int]
    first_seen: float
    last_seen: float
    box: np.ndarray  # x1, y1, x2, y2 in pixels, the latest sighting
    dwell: float = 0.0
    looks: deque[bool] = field(default_factory=deque)
    event_open: bool = False
    last_alarm: float | None = None
    last_update: float = 0.0
    opened_at: float | None = None
    label: str = ""

    @property
    def key(self) -> str:
        return f"{self.cell[0]}-{self.cell[1]}"


@dataclass(frozen=True)
class PlaceChange:
    kind: Change
    place: Place
    t: float


class PlaceTracker:
    """All places of one zone. ``update`` is called once per analysed look with what is present at that time."""

    def __init__(self, zone: ZoneConfig, frame_width: int) -> None:
        self.zone = zone
        self.cell_px = max(1.0, zone.cell * frame_width)
        self.places: dict[tuple[int, int], Place] = {}
        self.retired: dict[tuple[int, int], float] = {}  # cell → last alarm, kept for the alarm interval

    def cell_of(self, point: tuple[float, float]) -> tuple[int, int]:
        return int(point[0] // self.cell_px), int(point[1] // self.cell_px)

    def _match(self, cell: tuple[int, int], claimed: set[tuple[int, int]]) -> Place | None:
        if cell in self.places and cell not in claimed:
            return self.places[cell]
        for dx in (-1, 0, 1):
            for dy in (-1, 0, 1):
                near = (cell[0] + dx, cell[1] + dy)
                if near in self.places and near not in claimed:
                    return self.places[near]
        return None

    def update(self, t: float, sightings: list[tuple[tuple[float, float], np.ndarray, str]],
               active: bool) -> list[PlaceChange]:
        """``sightings``: (anchor point, box, label) of everything relevant seen in the zone at time ``t``."""
        zone = self.zone
        changes: list[PlaceChange] = []
        claimed: set[tuple[int, int]] = set()
        for anchor, box, label in sightings:
            cell = self.cell_of(anchor)
            place = self._match(cell, claimed)
            if place is None:
                if cell in self.places:
                    continue  # a second object at a place already credited at this look
                place = Place(cell=cell, first_seen=t, last_seen=t, box=box, label=label)
                place.last_alarm = self.retired.get(cell)
                self.places[cell] = place
            elif t - place.last_seen <= zone.grace_seconds + 1e-6:
                place.dwell += t - place.last_seen
            elif not place.event_open:
                place.first_seen, place.dwell = t, 0.0  # away too long: the clock starts again
            claimed.add(place.cell)
            place.looks.append(True)
            place.last_seen, place.box, place.label = t, box, label
        for cell, place in list(self.places.items()):
            if cell not in claimed:
                place.looks.append(False)
            while len(place.looks) > zone.confirm.looks:
                place.looks.popleft()
            absent = t - place.last_seen
            if place.event_open:
                if absent >= zone.clear_after_seconds:
                    place.event_open = False
                    changes.append(PlaceChange("cleared", place, t))
                    self._retire(place)
                elif cell in claimed and t - place.last_update >= UPDATE_EVERY_SECONDS:
                    place.last_update = t
                    changes.append(PlaceChange("updated", place, t))
                continue
            if absent > max(zone.grace_seconds, zone.clear_after_seconds):
                self._retire(place)
                continue
            if cell in claimed and active and self._due(place, t):
                place.event_open = True
                place.opened_at = place.last_update = t
                place.last_alarm = t
                changes.append(PlaceChange("opened", place, t))
        return changes

    def _due(self, place: Place, t: float) -> bool:
        zone = self.zone
        if place.dwell + 1e-6 < zone.dwell_seconds:
            return False
        if sum(place.looks) < zone.confirm.hits:
            return False
        return place.last_alarm is None or t - place.last_alarm >= zone.alarm_interval_seconds

    def _retire(self, place: Place) -> None:
        self.places.pop(place.cell, None)
        if place.last_alarm is not None:
            self.retired[place.cell] = place.last_alarm
        horizon = place.last_seen - self.zone.alarm_interval_seconds
        self.retired = {c: a for c, a in self.retired.items() if a >= horizon}

    def open_places(self) -> list[Place]:
        return [p for p in self.places.values() if p.event_open]
