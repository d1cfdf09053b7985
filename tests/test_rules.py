"""Places, dwell, schedules, zones: the rule logic, on synthetic tracks over real frames where it matters."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pytest
import supervision as sv
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from streams.sampler import SampledFrame
from vision.analyzer import CameraAnalyzer
from vision.catalogue import load_catalogue
from vision.places import PlaceTracker
from vision.rules_config import CameraRules, TimeRange, ZoneConfig

FAMILIES = {"person": ["person"], "street_stall": ["umbrella", "dining table"], "road_occupation": ["car"],
            "garbage": []}
FRAME = np.full((432, 768, 3), 90, np.uint8)


def zone(**kw: object) -> ZoneConfig:
    base: dict[str, object] = {"id": "z", "polygon": [(0, 0), (1, 0), (1, 1), (0, 1)], "family": "road_occupation",
                               "dwell_seconds": 10, "grace_seconds": 4, "clear_after_seconds": 6,
                               "alarm_interval_seconds": 60, "confirm": {"hits": 2, "looks": 3}}
    base.update(kw)
    return ZoneConfig.model_validate(base)


def box_at(x: float, y: float, size: float = 40) -> np.ndarray:
    return np.array([x - size / 2, y - size, x + size / 2, y], np.float32)


def run(tracker: PlaceTracker, timeline: list[tuple[float, list[tuple[float, float]]]]) -> list[tuple[str, float]]:
    out = []
    for t, points in timeline:
        sightings = [((x, y), box_at(x, y), "car") for x, y in points]
        out += [(c.kind, c.t) for c in tracker.update(t, sightings, active=True)]
    return out


def test_event_opens_after_dwell_once_and_clears_after_absence() -> None:
    tracker = PlaceTracker(zone(), 768)
    timeline = [(t, [(300.0, 300.0)]) for t in range(0, 21, 2)] + [(t, []) for t in range(22, 40, 2)]
    assert run(tracker, timeline) == [("opened", 10), ("cleared", 26)]


def test_jitter_within_a_cell_and_brief_occlusion_keep_the_clock() -> None:
    tracker = PlaceTracker(zone(), 768)
    jitter = [(0, [(300, 300)]), (2, [(330, 310)]), (4, []), (6, [(290, 295)]), (8, [(310, 300)]),
              (10, [(305, 300)])]
    assert run(tracker, jitter) == [("opened", 10)]


def test_moving_object_never_dwells() -> None:
    tracker = PlaceTracker(zone(), 768)
    drive = [(t, [(50.0 + 60 * t, 300.0)]) for t in range(0, 12)]
    assert run(tracker, drive) == []


def test_alarm_interval_suppresses_a_repeat_at_the_same_place() -> None:
    tracker = PlaceTracker(zone(alarm_interval_seconds=100), 768)
    visit = [(t, [(300.0, 300.0)]) for t in range(0, 13, 2)]
    gone = [(t, []) for t in range(14, 30, 2)]
    again = [(t, [(300.0, 300.0)]) for t in range(30, 50, 2)]
    assert [k for k, _ in run(tracker, visit + gone + again)] == ["opened", "cleared"]
    tracker2 = PlaceTracker(zone(alarm_interval_seconds=20), 768)
    assert [k for k, _ in run(tracker2, visit + gone + again)] == ["opened", "cleared", "opened"]


def test_n_of_m_confirmation() -> None:
    tracker = PlaceTracker(zone(dwell_seconds=0, grace_seconds=10, clear_after_seconds=10,
                                confirm={"hits": 3, "looks": 4}), 768)
    assert run(tracker, [(0, [(300, 300)]), (2, []), (4, [(300, 300)])]) == []
    assert run(tracker, [(6, [(300, 300)])]) == [("opened", 6)]


def test_dwell_survives_a_real_tracker_id_switch() -> None:
    """The analyzer's own ByteTrack gives the car a new id after it was missed for three looks (the tracker keeps a
    lost track for one look at this rate); the place's dwell clock counts on across the gap (within the grace),
    so the event opens 16 s after the car first came, at the new track's first confirmed look."""
    rules = CameraRules(zones=[zone(dwell_seconds=12, grace_seconds=8, clear_after_seconds=10)], ptz_guard=False)
    analyzer = CameraAnalyzer("cam", rules, FAMILIES, load_catalogue())
    ids: dict[int, list[int]] = {}
    track = analyzer._track

    def recorded(detections: sv.Detections) -> sv.Detections:
        tracked = track(detections)
        if tracked.tracker_id is not None:
            ids[len(ids)] = [int(i) for i in tracked.tracker_id]
        return tracked

    analyzer._track = recorded  # type: ignore[method-assign]  # observe the real tracker, change nothing
    opened = []
    for t in range(0, 22, 2):
        present = not 8 <= t <= 12  # missed at 8, 10 and 12 s (an occlusion)
        det = sv.Detections(xyxy=np.array([[300, 200, 380, 260]] if present else np.zeros((0, 4)), np.float32),
                            confidence=np.array([0.8] if present else [], np.float32),
                            class_id=np.array([2] if present else [], int),
                            data={"class_name": np.array(["car"] if present else [], dtype=object)})
        frame = SampledFrame("cam", FRAME, float(t), 1_700_000_000.0 + t, float(t), (768, 432), True)
        changes = analyzer.analyse(frame, det)
        opened += [(c.t_stream, c.dwell, c.boxes[0].track_id) for c in changes if c.kind == "opened"]
    # ByteTrack confirms a track at its second look (-1 before): the car is track A at 2–6 s, B from 16 s
    before, after = {i for k in range(1, 4) for i in ids[k]}, {i for k in range(8, 11) for i in ids[k]}
    assert ids[0] == ids[7] == [-1] and all(ids[k] == [] for k in (4, 5, 6)), ids
    assert len(before) == len(after) == 1 and before != after and -1 not in before | after, ids  # the id changed
    [(t, dwell, track_id)] = opened
    assert track_id in after
    assert t == 16.0 and dwell >= 12  # a dwell per track would need until 28 s (B seen since 14 s, or 16 s)


def test_class_map_renames_per_camera() -> None:
    rules = CameraRules(zones=[zone(dwell_seconds=0, confirm={"hits": 1, "looks": 1})], class_map={"cell phone": "car"},
                        ptz_guard=False)
    analyzer = CameraAnalyzer("cam", rules, FAMILIES, load_catalogue())
    det = sv.Detections(xyxy=np.array([[300, 200, 380, 260]], np.float32), confidence=np.array([0.8], np.float32),
                        class_id=np.array([67]), data={"class_name": np.array(["cell phone"], dtype=object)})
    changes = analyzer.analyse(SampledFrame("cam", FRAME, 0.0, 1.0, 0.0, (768, 432), True), det)
    assert [c.kind for c in changes] == ["opened"]
    assert changes[0].boxes[0].label == "car"


def test_zone_validation_messages() -> None:
    with pytest.raises(ValidationError, match="outside 0–1"):
        zone(polygon=[(0, 0), (2, 0), (1, 1)])
    with pytest.raises(ValidationError, match="no area"):
        zone(polygon=[(0, 0), (0.5, 0.5), (1, 1)])
    with pytest.raises(ValidationError, match="hits must not exceed looks"):
        zone(confirm={"hits": 5, "looks": 2})
    with pytest.raises(ValidationError, match="not a time"):
        TimeRange(start="25:00")
    assert zone(family="garbage").code == "0102"
    assert zone(family="street_stall").code == "0501"


@given(st.integers(0, 6), st.integers(0, 6), st.integers(0, 1439), st.integers(0, 1439), st.integers(1, 1440))
@settings(max_examples=400, deadline=None)
def test_schedule_boundaries(listed_day: int, weekday: int, minute_of_day: int, start: int, length: int) -> None:
    """A window [start, start+length) on a listed day — past midnight when it must — holds exactly its minutes."""
    days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    fmt = lambda m: f"{m // 60:02d}:{m % 60:02d}"  # noqa: E731
    end = "24:00" if start + length == 1440 else fmt((start + length) % 1440)
    rng = TimeRange(days=[days[listed_day]], start=fmt(start), end=end)
    when = datetime(2026, 11, 23) + timedelta(days=weekday, minutes=minute_of_day)  # 2026-11-23 is a Monday
    m = minute_of_day
    if start + length <= 1440:
        expected = weekday == listed_day and start <= m < start + length
    else:
        yesterday = (weekday - 1) % 7
        expected = (weekday == listed_day and m >= start) or (yesterday == listed_day and m < start + length - 1440)
    assert rng.contains(when) == expected


@given(st.floats(0.01, 0.99), st.floats(0.01, 0.99))
@settings(max_examples=200, deadline=None)
def test_polygon_membership_bottom_centre(x: float, y: float) -> None:
    """A box's bottom-centre inside the zone polygon triggers it; the same box shifted outside does not."""
    rules = CameraRules(zones=[zone(polygon=[(0.25, 0.25), (0.75, 0.25), (0.75, 0.75), (0.25, 0.75)],
                                    dwell_seconds=0, confirm={"hits": 1, "looks": 1})], ptz_guard=False)
    analyzer = CameraAnalyzer("cam", rules, FAMILIES, load_catalogue())
    px, py = x * 768, y * 432
    det = sv.Detections(xyxy=np.array([[px - 15, py - 30, px + 15, py]], np.float32),
                        confidence=np.array([0.9], np.float32), class_id=np.array([2]),
                        data={"class_name": np.array(["car"], dtype=object)})
    changes = analyzer.analyse(SampledFrame("cam", FRAME, 0.0, 1.0, 0.0, (768, 432), True), det)
    margin = 2 / 432  # rasterised polygon edges: allow a pixel or two either way
    clearly_in = 0.25 + margin < x < 0.75 - margin and 0.25 + margin < y < 0.75 - margin
    clearly_out = not (0.25 - margin <= x <= 0.75 + margin and 0.25 - margin <= y <= 0.75 + margin)
    if clearly_in:
        assert [c.kind for c in changes] == ["opened"]
    if clearly_out:
        assert changes == []


def _car(x: float) -> sv.Detections:
    return sv.Detections(xyxy=np.array([[x, 200, x + 80, 260]], np.float32), confidence=np.array([0.8], np.float32),
                         class_id=np.array([2]), data={"class_name": np.array(["car"], dtype=object)})


def _frame(t: float) -> SampledFrame:
    return SampledFrame("cam", FRAME, t, 1_700_000_000.0 + t, t, (768, 432), True)


def test_clearance_watch_reports_cleared_after_absence_with_after_snapshot() -> None:
    rules = CameraRules(zones=[zone(dwell_seconds=4, alarm_interval_seconds=600)], ptz_guard=False)
    analyzer = CameraAnalyzer("cam", rules, FAMILIES, load_catalogue())
    opened = [c for t in range(0, 8, 2) for c in analyzer.analyse(_frame(t), _car(300))]
    assert [c.kind for c in opened] == ["opened"]
    analyzer.watch(opened[0], absent_seconds=6, within_seconds=600, now_mono=8)
    verdicts = []
    for t in range(8, 30, 2):
        present = t < 12  # the car is towed away at 12 s; another car parks elsewhere in the zone
        det = _car(300) if present else _car(600)
        verdicts += [(c.kind, c.t_stream) for c in analyzer.analyse(_frame(t), det) if c.event_id == opened[0].event_id]
    assert ("cleared", 18.0) in verdicts
    cleared = [c for c in verdicts if c[0] == "cleared"]
    assert len(cleared) == 2  # the place's own event ends (clear_after) and the watch's verdict: both name it


def test_clearance_watch_reports_still_present_at_deadline() -> None:
    rules = CameraRules(zones=[zone(dwell_seconds=4)], ptz_guard=False)
    analyzer = CameraAnalyzer("cam", rules, FAMILIES, load_catalogue())
    opened = [c for t in range(0, 8, 2) for c in analyzer.analyse(_frame(t), _car(300))]
    analyzer.watch(opened[0], absent_seconds=6, within_seconds=10, now_mono=8)
    kinds = [c.kind for t in range(8, 30, 2) for c in analyzer.analyse(_frame(t), _car(302))]
    assert kinds.count("still_present") == 1
    assert "cleared" not in kinds


def test_ptz_move_pauses_rules_and_flags_the_camera() -> None:
    """Real frames: the lobby view, then the camera 'turns' to the parking lot, then comes back."""
    from streams.sampler import FrameSampler
    from tests.streams_helpers import feed
    from wall.demo import MEDIA

    views: dict[str, list[SampledFrame]] = {"lobby": [], "lot": []}
    for name, clip in (("lobby", "one-by-one-person-detection.mp4"), ("lot", "car-detection.mp4")):
        feed(MEDIA / clip, FrameSampler("cam", 2.0, views[name].append, width=640), limit=130)
    lobby, lot = views["lobby"], views["lot"]
    rules = CameraRules(zones=[zone(dwell_seconds=4)], ptz_guard=True)
    analyzer = CameraAnalyzer("cam", rules, FAMILIES, load_catalogue())
    sequence = [lobby[0], lobby[1], lot[0], lot[1], lot[2], lot[3], lot[4], lobby[2], lobby[3], lobby[4], lobby[5]]
    moved, kinds = [], []
    for t, image in enumerate(f.image for f in sequence):
        frame = SampledFrame("cam", image, 2.0 * t, 1_700_000_000.0 + 2 * t, 2.0 * t, (640, 360), True)
        kinds.append([c.kind for c in analyzer.analyse(frame, _car(300))])
        moved.append(analyzer.scene_moved)
    assert moved == [False] * 3 + [True] * 5 + [False] * 3  # two looks to flag, two to resume
    # Opened at 4 s (2 looks of dwell); while the camera looks elsewhere nothing opens or clears.
    assert kinds[2] == ["opened"] and all(k == [] for k in kinds[3:])
