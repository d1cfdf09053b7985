"""The change gate: the detector is skipped on looks where nothing changed in the zones, and nothing is lost by it.

Real frames and the real default model (YOLOX-nano) throughout. The static scenes are stills taken from the
lobby clip and re-encoded with temporal noise (as a sensor adds), so the gate has to tell noise from change on
real H.264 pictures.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
import supervision as sv
from pydantic import ValidationError

from streams.sampler import FrameSampler, SampledFrame
from tests.streams_helpers import feed
from tests.test_replay import STALL_RULES
from vision.analyzer import CameraAnalyzer
from vision.card import DEFAULT_CARD
from vision.catalogue import load_catalogue
from vision.change_gate import ChangeGate, thumbnail
from vision.detector import Detector
from vision.events import EventChange
from vision.pipeline import AnalysisPipeline
from vision.replay import Replay
from vision.rules_config import CameraRules, DetectorGateSettings
from wall.demo import MEDIA

PERSON = MEDIA / "one-by-one-person-detection.mp4"
# The lobby clip (hand-held: the view shifts between visits): nobody at the table at 20 s, the first visitor
# standing at it at 12 s, in the same framing.
EMPTY_AT, VISITOR_AT = 20.0, 12.0
ARRIVES = 11.0  # in the composed clip, the visitor is there from this second on
TABLE = STALL_RULES["zones"][0]["polygon"]  # where the visitor stands (feet)
FAR_CORNER = [[0.0, 0.75], [0.2, 0.75], [0.2, 1.0], [0.0, 1.0]]  # floor on the left, away from the table


class CountingDetector(Detector):
    """The real detector, remembering which images it was given (to tell detected looks from reused ones)."""

    def __init__(self, card: Path) -> None:
        super().__init__(card)
        self.seen: list[int] = []

    def detect(self, images: Sequence[np.ndarray], score_threshold: float | None = None) -> list[sv.Detections]:
        self.seen += [id(image) for image in images]
        return super().detect(images, score_threshold)


@pytest.fixture(scope="module")
def detector() -> CountingDetector:
    return CountingDetector(DEFAULT_CARD)


@pytest.fixture(scope="module")
def arrival_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """40 s of a still lobby: the empty table until ARRIVES, then a visitor standing at it; sensor-like noise on
    every frame; 10 fps, a keyframe every 2 s (so a look every 2 s decodes keyframes only)."""
    d = tmp_path_factory.mktemp("gate")
    stills = []
    for t, name in ((EMPTY_AT, "empty.png"), (VISITOR_AT, "visitor.png")):
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-ss", str(t), "-i", str(PERSON), "-frames:v", "1",
                        str(d / name)], check=True)
        stills.append(d / name)
    out = d / "arrival.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-loop", "1", "-t", str(ARRIVES), "-i", str(stills[0]),
         "-loop", "1", "-t", str(40 - ARRIVES), "-i", str(stills[1]),
         "-filter_complex", "[0][1]concat=n=2:v=1,fps=10,noise=alls=8:allf=t,format=yuv420p",
         "-c:v", "libx264", "-preset", "ultrafast", "-g", "20", "-keyint_min", "20", "-sc_threshold", "0",
         str(out)],
        check=True,
    )
    return out


def looks(clip: Path) -> list[SampledFrame]:
    frames: list[SampledFrame] = []
    feed(clip, FrameSampler("lobby", 2.0, frames.append, width=640))
    return frames


def stall_rules(polygon: list[list[float]], **gate: object) -> CameraRules:
    zone = {**STALL_RULES["zones"][0], "polygon": polygon}
    return CameraRules.model_validate({"zones": [zone], "ptz_guard": True, "detector_gate": gate})


def run_looks(frames: list[SampledFrame], rules: CameraRules,
              detector: CountingDetector) -> tuple[list[float], list[EventChange], AnalysisPipeline]:
    """Each look through the live pipeline; returns the times of the looks the detector saw, and the events."""
    analyzer = CameraAnalyzer("lobby", rules, detector.card.families, load_catalogue())
    events: list[EventChange] = []
    pipeline = AnalysisPipeline(detector, {"lobby": analyzer}, events.append)
    detected = []
    for frame in frames:
        before = len(detector.seen)
        pipeline.process([frame])
        if len(detector.seen) > before:
            assert detector.seen[-1] == id(frame.image)
            detected.append(frame.pts_s)
    return detected, events, pipeline


def test_a_still_scene_skips_the_detector_yet_the_arrival_is_detected_at_once_and_dwell_counts(
        detector: CountingDetector, arrival_clip: Path) -> None:
    frames = looks(arrival_clip)
    assert [round(f.pts_s) for f in frames] == list(range(0, 40, 2))
    detected, events, pipeline = run_looks(frames, stall_rules(TABLE, refresh_seconds=10), detector)
    # 0: first look; 10: forced refresh; 12: the first look with the visitor (a change, at once); 22 and 32:
    # forced refreshes while the visitor stands still. Every other look reused the last detections.
    assert [round(t) for t in detected] == [0, 10, 12, 22, 32]
    assert pipeline.stats.frames_detected == 5 and pipeline.stats.frames_reused == 15
    # The visitor has stood at the table since 12 s; with a 14 s dwell the stall opens at 26 s although the
    # detector last saw the scene at 22 s: reused looks keep the dwell clock going.
    opened = [e for e in events if e.kind == "opened"]
    assert [round(e.t_stream) for e in opened] == [26]
    assert opened[0].dwell == pytest.approx(14, abs=0.01)
    assert any(b.label == "person" for b in opened[0].boxes)


def test_the_gate_off_detects_every_look_and_raises_the_same(detector: CountingDetector, arrival_clip: Path) -> None:
    frames = looks(arrival_clip)
    detected, events, _ = run_looks(frames, stall_rules(TABLE, enabled=False), detector)
    assert len(detected) == len(frames)
    assert [(e.kind, round(e.t_stream)) for e in events] == [("opened", 26)]


def test_forced_refresh_follows_its_setting(detector: CountingDetector, arrival_clip: Path) -> None:
    frames = looks(arrival_clip)
    detected, _, _ = run_looks(frames, stall_rules(TABLE, refresh_seconds=4), detector)
    assert [round(t) for t in detected] == [0, 4, 8, 12, 16, 20, 24, 28, 32, 36]  # 12 is also the change
    detected, _, _ = run_looks(frames, stall_rules(TABLE, refresh_seconds=0), detector)
    assert len(detected) == len(frames)


def test_a_change_outside_every_zone_does_not_wake_the_detector(detector: CountingDetector,
                                                                 arrival_clip: Path) -> None:
    frames = looks(arrival_clip)
    detected, events, _ = run_looks(frames, stall_rules(FAR_CORNER, refresh_seconds=10), detector)
    assert [round(t) for t in detected] == [0, 10, 20, 30]  # the visitor stands away from this zone
    assert events == []


def test_stall_cases_in_the_real_clip_are_the_same_with_the_gate(detector: CountingDetector) -> None:
    """The lobby clip (a hand-held camera, people coming and going): the gate skips many looks, and the
    events are exactly those of a detector on every look."""
    runs = {}
    for enabled in (True, False):
        rules = CameraRules.model_validate({**STALL_RULES, "detector_gate": {"enabled": enabled}})
        replay = Replay(PERSON, rules, detector, detector.card.families, load_catalogue(), interval=2.0)
        runs[enabled] = ([(c.kind, round(c.t_stream), c.place) for c in replay.run()], replay.pipeline.stats)
    (gated, stats), (plain, plain_stats) = runs[True], runs[False]
    assert gated == plain
    assert [k for k, _, _ in gated].count("opened") == 3
    assert plain_stats.frames_reused == 0
    assert stats.frames_detected + stats.frames_reused == stats.frames_analysed == plain_stats.frames_analysed
    assert stats.frames_reused >= 0.25 * stats.frames_analysed


def test_noise_and_light_are_not_changes_but_an_object_is() -> None:
    """Thumbnail decisions on real frames: re-encoding noise and a brighter picture pass, a parcel does not."""
    frames = looks(PERSON)
    empty = next(f.image for f in frames if f.pts_s >= EMPTY_AT)
    gate = ChangeGate(DetectorGateSettings(), [TABLE])
    assert gate.wants_detection(empty, 1.0)
    gate.detected(empty, 1.0)
    rng = np.random.default_rng(1)
    noisy = np.clip(empty + rng.normal(0, 6, empty.shape), 0, 255).astype(np.uint8)
    assert not gate.wants_detection(noisy, 2.0)
    assert gate.last_changed < DetectorGateSettings().min_changed_pixels
    brighter = np.clip(empty.astype(np.int16) + 25, 0, 255).astype(np.uint8)
    assert not gate.wants_detection(brighter, 3.0)
    parcel = empty.copy()
    h, w = parcel.shape[:2]
    parcel[int(0.80 * h):int(0.80 * h) + 24, int(0.5 * w):int(0.5 * w) + 24] = (40, 40, 48)  # 24 px, in the zone
    assert gate.wants_detection(parcel, 4.0)
    assert gate.last_changed >= 2  # a 24 px parcel covers parts of ~9 thumbnail pixels
    elsewhere = empty.copy()
    elsewhere[int(0.2 * h):int(0.2 * h) + 24, int(0.1 * w):int(0.1 * w) + 24] = (40, 40, 48)  # far from the zone
    assert not gate.wants_detection(elsewhere, 5.0)
    assert ChangeGate(DetectorGateSettings(), []).wants_detection(elsewhere, 5.0) is True  # no zones: all counts


def test_thumbnail_is_brightness_neutral() -> None:
    image = np.random.default_rng(2).integers(0, 200, (360, 640, 3), dtype=np.uint8)
    assert np.abs(thumbnail(image) - thumbnail(image + np.uint8(40))).max() < 1.0


def test_gate_settings_are_validated() -> None:
    with pytest.raises(ValidationError, match=r"detector_gate\.pixel_threshold"):
        CameraRules.model_validate({"detector_gate": {"pixel_threshold": 0}})
    with pytest.raises(ValidationError, match=r"detector_gate\.refresh_seconds"):
        CameraRules.model_validate({"detector_gate": {"refresh_seconds": -1}})
    with pytest.raises(ValidationError, match=r"detector_gate\.every"):
        CameraRules.model_validate({"detector_gate": {"every": 3}})
    assert CameraRules().detector_gate == DetectorGateSettings(enabled=True, refresh_seconds=10)
