"""CameraAnalyzer: one camera's detections → tracker → zones → per-place dwell → event changes with evidence.

Pure logic over (frame, detections): the same object runs live (frames from the hub's samplers) and in
``citywall replay`` (frames from a file), so what a site tunes on a clip is what runs on the street.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Final, cast

import numpy as np
import numpy.typing as npt
import supervision as sv
from trackers import ByteTrackTracker

from streams.sampler import SampledFrame
from vision.card import Family
from vision.catalogue import Catalogue
from vision.change_gate import ChangeGate
from vision.clearance import ClearanceWatch
from vision.events import Box, EventChange
from vision.evidence import KIND_WORDS, Candidate, Drawn, annotate, clean_jpeg
from vision.places import Place, PlaceChange, PlaceTracker
from vision.rules_config import CameraRules, ZoneConfig
from vision.scene_guard import SceneGuard
from vision.static_change import StaticChangeDetector

PERSON: Final = "person"
ANCHORS = {"bottom_center": sv.Position.BOTTOM_CENTER, "center": sv.Position.CENTER}


def _rows(detections: sv.Detections, index: npt.NDArray[np.bool_]) -> sv.Detections:
    """``detections[index]`` as Detections: supervision's ``__getitem__`` returns one union for row selections and
    ``data`` keys alike."""
    chosen = detections[index]
    assert isinstance(chosen, sv.Detections)
    return chosen


def _anchors(detections: sv.Detections, position: sv.Position) -> npt.NDArray[np.floating]:
    # supervision annotates anchor coordinates as NDArray[generic]: they are float pixel positions
    return cast("npt.NDArray[np.floating]", detections.get_anchors_coordinates(position))


def _xyxy(values: Iterable[float]) -> tuple[float, float, float, float]:
    x1, y1, x2, y2 = (float(v) for v in values)
    return x1, y1, x2, y2


@dataclass
class _Zone:
    config: ZoneConfig
    polygon: np.ndarray  # pixels
    area: sv.PolygonZone
    places: PlaceTracker
    classes: set[str]
    static: StaticChangeDetector | None
    event_ids: dict[tuple[int, int], str]


class CameraAnalyzer:
    def __init__(self, camera_id: str, rules: CameraRules, families: Mapping[Family, list[str]], catalogue: Catalogue,
                 *, snapshot_quality: int = 85) -> None:
        self.camera_id = camera_id
        self.rules = rules
        self.families = {k: set(v) for k, v in families.items()}
        self.catalogue = catalogue
        self.snapshot_quality = snapshot_quality
        # Looks are seconds apart, not frames: a short memory and a low activation bar, since dwell does not
        # depend on ids anyway (ids only tie an event's boxes together for the operator).
        self.tracker = ByteTrackTracker(lost_track_buffer=5, frame_rate=1.0, track_activation_threshold=0.3,
                                        minimum_consecutive_frames=1)
        self.guard = SceneGuard() if rules.ptz_guard else None
        # PTZ (wall.ptz): a command turned the camera off the preset its zones were drawn for; the rules pause
        # until it is back, and the guard learns nothing from the view meanwhile
        self.held = False
        self.gate = ChangeGate(rules.detector_gate, [z.polygon for z in rules.zones])
        self._last_detections: sv.Detections | None = None  # as the detector gave them, for looks that reuse them
        self.frame_size: tuple[int, int] | None = None
        self.zones: list[_Zone] = []
        self.looks = 0
        self.last_look_at: float | None = None  # wall-clock time of the newest look (for the wall's overlay)
        self.watches: list[ClearanceWatch] = []
        # every place something is seen at, after each look (replaced whole: the clip thread reads it)
        self.candidates: tuple[Candidate, ...] = ()

    def watch(self, event: EventChange, absent_seconds: float, within_seconds: float, now_mono: float) -> None:
        """Start a clearance watch (视频核查) on an event's place: a later look reports cleared / still present."""
        self.watch_place(event.event_id, event.zone_id, event.place_box, absent_seconds, within_seconds, now_mono)

    def watch_place(self, event_id: str, zone_id: str, box: object, absent_seconds: float, within_seconds: float,
                    now_mono: float) -> None:
        """The same for a place known only by its box (a case read back from the database)."""
        self.watches.append(ClearanceWatch(event_id, zone_id, np.array(box, np.float32).reshape(4),
                                           absent_seconds, now_mono + within_seconds))

    @property
    def scene_moved(self) -> bool:
        return self.held or bool(self.guard and self.guard.moved)

    def overlay(self) -> dict[str, object]:
        """What the wall may draw over a live tile: the zones and the latest detections, in 0–1 of the picture
        (so they fit any stream of the camera), with the time of the look they came from."""
        zones = [{"id": z.id, "name": z.name, "family": z.family, "code": z.code, "polygon": z.polygon}
                 for z in self.rules.zones]
        boxes: list[dict[str, object]] = []
        last = self._last_detections
        if last is not None and self.frame_size is not None and len(last):
            width, height = self.frame_size
            names = last.data.get("class_name")
            if names is None:
                assert last.class_id is not None  # the detector gives every box a class id
                names = [str(int(c)) for c in last.class_id]
            for i, (x1, y1, x2, y2) in enumerate(last.xyxy.tolist()):
                label = str(names[i])
                boxes.append({"label": self.rules.class_map.get(label, label),
                              "confidence": round(float(last.confidence[i]), 3) if last.confidence is not None
                              else None,
                              "box": [round(x1 / width, 4), round(y1 / height, 4), round(x2 / width, 4),
                                      round(y2 / height, 4)]})
        return {"zones": zones, "boxes": boxes, "looks": self.looks, "at": self.last_look_at}

    def _build(self, size: tuple[int, int]) -> None:
        w, h = size
        self.frame_size = size
        self.zones = []
        for zone in self.rules.zones:
            polygon = np.round(np.array(zone.polygon, np.float32) * [w, h]).astype(np.int32)
            classes = set(zone.classes) if zone.classes is not None else set(self.families.get(zone.family, ()))
            static = None
            if zone.family == "garbage" and not classes:
                static = StaticChangeDetector(zone.static_change, polygon.astype(np.float32), size)
            self.zones.append(_Zone(
                config=zone, polygon=polygon,
                # supervision annotates int64 only; it takes any integer polygon (np.asarray, then astype(int))
                area=sv.PolygonZone(polygon, triggering_anchors=(ANCHORS[zone.trigger],)),  # type: ignore[arg-type]
                places=PlaceTracker(zone, w), classes=classes, static=static, event_ids={},
            ))

    def wants_detection(self, frame: SampledFrame) -> bool:
        """Whether this look needs the detector, or may reuse the last detections (nothing changed in the zones
        since; see vision/change_gate.py). The pipeline asks before it batches frames for the detector."""
        return self._last_detections is None or self.gate.wants_detection(frame.image, frame.mono)

    def analyse(self, frame: SampledFrame, detections: sv.Detections | None) -> list[EventChange]:
        """One look. ``detections`` None: the gate said nothing changed, so the last detections stand for this
        look (same boxes, this look's time): dwell keeps counting and tracks keep their ids."""
        h, w = frame.image.shape[:2]
        if self.frame_size != (w, h):
            self._build((w, h))
        self.looks += 1
        self.last_look_at = frame.wall
        if detections is None:
            self.gate.reused()
            last = self._last_detections
            detections = copy.deepcopy(last) if last is not None else sv.Detections.empty()
        else:
            self.gate.detected(frame.image, frame.mono)
            self._last_detections = copy.deepcopy(detections)  # before relabelling and tracking touch it
        detections = self._relabel(detections)
        detections = self._track(detections)
        moved = self.held or (self.guard.update(frame.image) if self.guard else False)
        when = datetime.fromtimestamp(frame.wall) if frame.wall else datetime.now()
        changes: list[EventChange] = []
        if moved:
            return changes  # the zones are not in view: nothing may open, and nothing may clear, until it is back
        for zone in self.zones:
            sightings = self._sightings(zone, frame, detections)
            for change in zone.places.update(frame.mono, sightings, zone.config.active(when)):
                changes.append(self._event(zone, change, frame, detections))
            changes += self._check_watches(zone, frame, detections, [box for _, box, _ in sightings])
        self.candidates = tuple(Candidate(zone.config.id, p.key, frame.wall - (frame.mono - p.first_seen), p.dwell)
                                for zone in self.zones for p in zone.places.places.values())
        return changes

    def _check_watches(self, zone: _Zone, frame: SampledFrame, detections: sv.Detections,
                       boxes: list[np.ndarray]) -> list[EventChange]:
        out: list[EventChange] = []
        for watch in [w for w in self.watches if w.zone_id == zone.config.id]:
            verdict = watch.update(frame.mono, boxes)
            if verdict is None:
                continue
            self.watches.remove(watch)
            place = Place(cell=zone.places.cell_of(((watch.box[0] + watch.box[2]) / 2, watch.box[3])),
                          first_seen=frame.mono, last_seen=frame.mono, box=watch.box)
            change = self._event(zone, PlaceChange(verdict, place, frame.mono), frame, detections)
            change.event_id = watch.event_id
            out.append(change)
        return out

    # -- what counts as "something at a place" per family ---------------------------------------
    def _relabel(self, detections: sv.Detections) -> sv.Detections:
        names = detections.data.get("class_name")
        if names is None or not self.rules.class_map:
            return detections
        mapped = np.array([self.rules.class_map.get(str(n), str(n)) for n in names], dtype=object)
        detections.data["class_name"] = mapped
        return detections

    def _track(self, detections: sv.Detections) -> sv.Detections:
        """Attach track ids without letting the tracker drop anything: a low-score stall is still a stall."""
        tracked = self.tracker.update(detections)
        ids = np.full(len(detections), -1, dtype=int)
        if len(tracked) and len(detections) and tracked.tracker_id is not None:
            iou = sv.box_iou_batch(detections.xyxy, tracked.xyxy)
            best = iou.argmax(axis=1)
            hit = iou[np.arange(len(detections)), best] > 0.9
            ids[hit] = np.asarray(tracked.tracker_id)[best[hit]]
        detections.tracker_id = ids
        return detections

    def _filter(self, zone: _Zone, detections: sv.Detections, classes: set[str]) -> sv.Detections:
        if len(detections) == 0 or not classes:
            return _rows(detections, np.zeros(len(detections), bool))
        assert self.frame_size is not None
        assert detections.confidence is not None  # the detector's and the static blobs' detections carry scores
        frame_area = float(self.frame_size[0] * self.frame_size[1])
        names = np.asarray(detections.data["class_name"])
        # supervision annotates box_area as NDArray[generic]: it is the boxes' float areas
        rel = cast("npt.NDArray[np.floating]", detections.box_area) / frame_area
        keep = (
            np.isin(names.astype(str), list(classes))
            & (detections.confidence >= zone.config.min_score)
            & (rel >= zone.config.min_box) & (rel <= zone.config.max_box)
        )
        chosen = _rows(detections, keep)
        if len(chosen) == 0:
            return chosen
        return _rows(chosen, zone.area.trigger(chosen))

    def _sightings(self, zone: _Zone, frame: SampledFrame,
                   detections: sv.Detections) -> list[tuple[tuple[float, float], np.ndarray, str]]:
        cfg = zone.config
        anchor = ANCHORS[cfg.trigger]
        if cfg.family == "street_stall":
            persons = self._filter(zone, detections, self.families.get(PERSON, {PERSON}))
            if not cfg.require_object:
                objects = persons
            else:
                objects = self._filter(zone, detections, zone.classes)
                objects = _rows(objects, self._lingered(objects, persons, cfg.linger_distance))
        elif zone.static is not None:
            explain = self.families.get(PERSON, {PERSON}) | self.families.get("road_occupation", set())
            names = np.asarray(detections.data.get("class_name", np.array([], dtype=object))).astype(str)
            explained = detections.xyxy[np.isin(names, list(explain))] if len(detections) else np.zeros((0, 4))
            blobs = zone.static.update(frame.image, explained)
            if len(blobs) == 0:
                return []
            objects = sv.Detections(xyxy=blobs.astype(np.float32), confidence=np.ones(len(blobs), np.float32),
                                    class_id=np.full(len(blobs), -1),
                                    data={"class_name": np.array(["static change"] * len(blobs), dtype=object)})
            objects = _rows(objects, zone.area.trigger(objects))
        else:
            objects = self._filter(zone, detections, zone.classes)
        if len(objects) == 0:
            return []
        points = objects.get_anchors_coordinates(anchor)
        labels = objects.data["class_name"]
        return [((float(p[0]), float(p[1])), objects.xyxy[i].copy(), str(labels[i])) for i, p in enumerate(points)]

    @staticmethod
    def _lingered(objects: sv.Detections, persons: sv.Detections, distance: float) -> np.ndarray:
        """Objects with a person within ``distance`` object-sizes of them (a stall needs its vendor)."""
        if len(objects) == 0 or len(persons) == 0:
            return np.zeros(len(objects), bool)
        centres = _anchors(objects, sv.Position.CENTER)[:, None, :]
        feet = _anchors(persons, sv.Position.BOTTOM_CENTER)[None, :, :]
        sizes = np.maximum(objects.xyxy[:, 2] - objects.xyxy[:, 0], objects.xyxy[:, 3] - objects.xyxy[:, 1])
        gap = np.linalg.norm(centres - feet, axis=2)
        return (gap <= distance * sizes[:, None]).any(axis=1)

    # -- evidence ------------------------------------------------------------------------------
    def _event(self, zone: _Zone, change: PlaceChange, frame: SampledFrame,
               detections: sv.Detections) -> EventChange:
        place = change.place
        cfg = zone.config
        assert cfg.code is not None and self.frame_size is not None
        if change.kind == "opened":
            zone.event_ids[place.cell] = uuid.uuid4().hex
        event_id = zone.event_ids.get(place.cell, uuid.uuid4().hex)
        if change.kind == "cleared":
            zone.event_ids.pop(place.cell, None)
        entry = self.catalogue.get(cfg.code)
        in_zone = _rows(detections, zone.area.trigger(detections)) if len(detections) else detections
        assert in_zone.confidence is not None  # the detector's and the static blobs' detections carry scores
        boxes = [
            Box(str(in_zone.data["class_name"][i]), float(in_zone.confidence[i]), _xyxy(in_zone.xyxy[i]),
                int(in_zone.tracker_id[i]) if in_zone.tracker_id is not None and in_zone.tracker_id[i] >= 0 else None)
            for i in range(len(in_zone))
        ]
        since_first = frame.mono - place.first_seen
        return EventChange(
            kind=change.kind, event_id=event_id, camera_id=self.camera_id, zone_id=cfg.id, family=cfg.family,
            code=cfg.code, code_name=entry.name if entry else cfg.code, catalogue_version=self.catalogue.version,
            place=place.key, place_box=_xyxy(place.box),
            frame_size=self.frame_size, first_seen=frame.wall - since_first, t=frame.wall, t_stream=frame.pts_s,
            dwell=place.dwell, boxes=boxes, snapshot_jpeg=self._snapshot(zone, change, frame, boxes, entry.name
                                                                          if entry else ""),
            frame_jpeg=clean_jpeg(frame.image) if change.kind in ("opened", "updated") else None,
        )

    def _snapshot(self, zone: _Zone, change: PlaceChange, frame: SampledFrame, boxes: list[Box], name: str) -> bytes:
        """The picture an operator decides on: zone outline, every box in the zone, the place in red."""
        drawn = [Drawn(b.xyxy, f"{b.label} {b.score:.2f}", (255, 160, 0)) for b in boxes]
        if change.kind != "cleared":
            drawn.append(Drawn(_xyxy(change.place.box), "", (0, 0, 255), 3))
        code, dwell = zone.config.code, change.place.dwell
        caption = f"{code} {name} {KIND_WORDS.get(change.kind, change.kind)} 停留 {dwell:.0f} 秒"
        return annotate(frame.image, zone.polygon, drawn, caption, f"{code} {change.kind} dwell {dwell:.0f}s",
                        self.snapshot_quality)
