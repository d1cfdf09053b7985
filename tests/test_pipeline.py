"""AnalysisPipeline on live RTSP cameras with the real detector: batches across cameras, latest-only queues."""

from __future__ import annotations

import time

import numpy as np
import pytest

from streams import CameraConfig, CameraHub, StreamSettings
from streams.devserver.rtsp import RtspDevServer
from streams.sampler import FrameSampler, SampledFrame
from tests.conftest import wait_until
from vision.analyzer import CameraAnalyzer
from vision.card import DEFAULT_CARD
from vision.catalogue import load_catalogue
from vision.detector import Detector
from vision.events import EventChange
from vision.pipeline import AnalysisPipeline
from vision.rules_config import CameraRules

WHOLE = [[0, 0], [1, 0], [1, 1], [0, 1]]


@pytest.fixture(scope="module")
def detector() -> Detector:
    return Detector(DEFAULT_CARD)


def analyzers(ids: list[str], detector: Detector) -> dict[str, CameraAnalyzer]:
    rules = CameraRules.model_validate({"zones": [{"id": "all", "family": "street_stall", "require_object": False,
                                                   "polygon": WHOLE, "dwell_seconds": 0,
                                                   "confirm": {"hits": 1, "looks": 1}}]})
    return {i: CameraAnalyzer(i, rules, detector.card.families, load_catalogue()) for i in ids}


@pytest.mark.slow
def test_live_cameras_are_analysed_in_batches(rtsp: RtspDevServer, detector: Detector) -> None:
    ids = ["car", "person", "bottle", "hd"]
    hub = CameraHub([CameraConfig(id=i, name=i, url=rtsp.url(i)) for i in ids], StreamSettings())
    events: list[EventChange] = []
    pipeline = AnalysisPipeline(detector, analyzers(ids, detector), events.append, max_batch=8)
    seen: dict[str, int] = dict.fromkeys(ids, 0)

    def submit(frame: SampledFrame) -> None:
        seen[frame.camera_id] += 1
        pipeline.submit(frame)

    for session in hub:
        session.attach(FrameSampler(session.id, 1.0, submit, width=640))
    hub.start()
    try:
        # Batches form when looks of several cameras wait at once, which a fast detector on a quiet machine may
        # never see by chance: the pipeline starts once every camera has a look waiting, so its first batch
        # takes them together (each camera's first look is always detected).
        assert wait_until(lambda: all(n >= 1 for n in seen.values()), 60)
        waited = pipeline.stats.frames_dropped  # looks replaced by newer ones while the slowest camera came up
        pipeline.start()
        assert wait_until(lambda: all(n >= 6 for n in seen.values()), 60)
        # The lobby's first visitor arrives ≈8 s into the clip: the whole-frame zone must raise for them.
        assert wait_until(lambda: any(e.camera_id == "person" for e in events), 60)
    finally:
        hub.stop()
        pipeline.stop()
    stats = pipeline.stats
    assert stats.frames_analysed + stats.frames_dropped + len(pipeline._waiting) == stats.frames_in
    assert stats.frames_analysed >= 0.8 * (stats.frames_in - waited)  # 4 cameras at 1 look/s keep up on 2 cores
    assert max(stats.batch_sizes) >= 2  # frames from several cameras went to the detector together
    # Every analysed look was either detected (in some batch) or reused the camera's last detections.
    assert stats.frames_detected + stats.frames_reused == stats.frames_analysed
    assert sum(k * v for k, v in stats.batch_sizes.items()) == stats.frames_detected
    assert stats.frames_detected >= len(ids)  # each camera's first look at least
    assert all(e.code == "0501" and e.kind in ("opened", "updated", "cleared") for e in events)


def test_a_lagging_detector_keeps_only_the_latest_frame_per_camera(detector: Detector) -> None:
    pipeline = AnalysisPipeline(detector, analyzers(["a", "b"], detector), lambda e: None)
    image = np.zeros((360, 640, 3), np.uint8)
    for i in range(5):  # the worker is not started: frames pile up as behind a slow detector
        for cam in ("a", "b"):
            pipeline.submit(SampledFrame(cam, image, float(i), time.time(), float(i), (640, 360), True))
    assert pipeline.stats.frames_dropped == 8
    assert {f.pts_s for f in pipeline._waiting.values()} == {4.0}
    pipeline.start()
    assert wait_until(lambda: pipeline.stats.frames_analysed == 2, 20)
    pipeline.stop()
    assert pipeline.stats.batch_sizes == {2: 1}


def test_only_the_looks_that_changed_go_to_the_detector(detector: Detector) -> None:
    """Two cameras in one batch: the one whose picture changed is detected, the other reuses its detections; a
    batch where nothing changed never reaches the detector."""
    from tests.streams_helpers import feed
    from wall.demo import MEDIA

    looks: list[SampledFrame] = []
    feed(MEDIA / "one-by-one-person-detection.mp4", FrameSampler("x", 2.0, looks.append, width=640))
    empty = next(f.image for f in looks if f.pts_s >= 20)  # nobody at the table
    visitor = next(f.image for f in looks if f.pts_s >= 12)  # the first visitor at it, same framing

    def frame(cam: str, image: np.ndarray, t: float) -> SampledFrame:
        return SampledFrame(cam, image, t, 1_700_000_000.0 + t, t, (640, 360), True)

    pipeline = AnalysisPipeline(detector, analyzers(["a", "b"], detector), lambda e: None)
    calls = detector.stats.calls
    pipeline.process([frame("a", empty, 0), frame("b", empty, 0)])
    pipeline.process([frame("a", empty, 2), frame("b", visitor, 2)])
    pipeline.process([frame("a", empty, 4), frame("b", visitor, 4)])
    assert detector.stats.calls - calls == 2  # the third batch never reached the detector
    stats = pipeline.stats
    assert stats.batch_sizes == {2: 1, 1: 1}
    assert (stats.frames_analysed, stats.frames_detected, stats.frames_reused) == (6, 3, 3)
    b = pipeline.analyzers["b"]
    assert b.looks == 3 and b.gate.detections == 2 and b.gate.reuses == 1
