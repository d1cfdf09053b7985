"""AnalysisPipeline: every camera's sampled frames → one shared detector, in batches → each camera's analyzer.

Why one worker and latest-only queues: a detector is the expensive part and there is one per process. Frames
from all cameras wait in a dict keyed by camera; the worker takes everything waiting (up to ``max_batch``) in one
detector call. If the detector falls behind, a camera's older frame is *replaced* by its newer one (counted as
dropped) rather than queued: rules need the present, and memory must not grow with the backlog.

Before a batch goes to the detector each camera's analyzer is asked whether its look needs it at all: a look in
which nothing changed in the camera's zones since the detector last ran reuses those detections (the change
gate, vision/change_gate.py). On a city camera most looks are such looks, and the detector is the largest cost.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import supervision as sv

from streams.sampler import SampledFrame
from vision.analyzer import CameraAnalyzer
from vision.events import EventChange

log = logging.getLogger(__name__)


class Detects(Protocol):
    """What the pipeline needs of a detector (``vision.detector.Detector``): frames in, Detections out."""

    def detect(self, images: list[np.ndarray]) -> list[sv.Detections]: ...


@dataclass
class PipelineStats:
    frames_in: int = 0
    frames_analysed: int = 0
    frames_detected: int = 0  # analysed with a fresh detection
    frames_reused: int = 0  # analysed with the camera's last detections (the change gate saw no change)
    frames_dropped: int = 0
    batches: int = 0
    batch_sizes: Counter[int] = field(default_factory=Counter)
    detect_seconds: float = 0.0
    analyse_seconds: float = 0.0
    events: int = 0

    def as_dict(self) -> dict[str, object]:
        return {"frames_in": self.frames_in, "frames_analysed": self.frames_analysed,
                "frames_detected": self.frames_detected, "frames_reused": self.frames_reused,
                "frames_dropped": self.frames_dropped, "batches": self.batches,
                "batch_sizes": dict(sorted(self.batch_sizes.items())),
                "detect_seconds": round(self.detect_seconds, 3), "analyse_seconds": round(self.analyse_seconds, 3),
                "events": self.events}


class AnalysisPipeline:
    def __init__(self, detector: Detects, analyzers: dict[str, CameraAnalyzer],
                 on_event: Callable[[EventChange], None], *, max_batch: int = 8) -> None:
        self.detector = detector
        self.analyzers = analyzers
        self.on_event = on_event
        self.max_batch = max_batch
        self.stats = PipelineStats()
        # Told (batch size, seconds of the detector call) after every batch: how the service's metrics get
        # histograms without this package knowing of Prometheus. Called on the worker thread; must be quick.
        self.batch_observers: list[Callable[[int, float], None]] = []
        self._waiting: dict[str, SampledFrame] = {}
        self._cond = threading.Condition()
        self._stop = False
        self._thread: threading.Thread | None = None

    def submit(self, frame: SampledFrame) -> None:
        """Called from camera threads (the samplers' callback); never blocks on the detector."""
        with self._cond:
            self.stats.frames_in += 1
            if frame.camera_id in self._waiting:
                self.stats.frames_dropped += 1
            self._waiting[frame.camera_id] = frame
            self._cond.notify()

    @property
    def waiting(self) -> int:
        """Frames waiting for the detector now (one per camera at most: a newer frame replaces an older one)."""
        return len(self._waiting)

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="analysis", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)

    def _take(self) -> list[SampledFrame]:
        with self._cond:
            while not self._waiting and not self._stop:
                self._cond.wait()
            if self._stop:
                return []
            ids = list(self._waiting)[: self.max_batch]
            return [self._waiting.pop(i) for i in ids]

    def _run(self) -> None:
        while True:
            batch = self._take()
            if not batch:
                return
            self.process(batch)

    def process(self, batch: list[SampledFrame]) -> list[EventChange]:
        """Detect on the frames of a batch that need it, then run each frame's analyzer (public so replays and
        benchmarks drive it directly)."""
        t0 = time.perf_counter()
        fresh = [f for f in batch if self._wants_detection(f)]
        detected: dict[int, sv.Detections] = {}
        if fresh:
            try:
                results = self.detector.detect([f.image for f in fresh])
            except Exception:
                log.exception("detector failed on a batch of %d", len(fresh))
                return []
            detected = {id(f): d for f, d in zip(fresh, results, strict=True)}
        t1 = time.perf_counter()
        self.stats.detect_seconds += t1 - t0
        if fresh:  # a batch whose looks all reused their detections never reached the detector
            self.stats.batches += 1
            self.stats.batch_sizes[len(fresh)] += 1
            for observe in self.batch_observers:
                try:
                    observe(len(fresh), t1 - t0)
                except Exception:
                    log.exception("batch observer failed")
        changes: list[EventChange] = []
        for frame in batch:
            analyzer = self.analyzers.get(frame.camera_id)
            if analyzer is None:
                continue
            detections = detected.get(id(frame))  # None: the gate saw no change, reuse the last detections
            self.stats.frames_reused += detections is None
            try:
                changes += analyzer.analyse(frame, detections)
            except Exception:  # one camera's rules must not stop the others' analysis
                log.exception("analyzer of %s failed", frame.camera_id, extra={"camera": frame.camera_id})
        self.stats.frames_analysed += len(batch)
        self.stats.frames_detected += len(detected)
        self.stats.analyse_seconds += time.perf_counter() - t1
        for change in changes:
            self.stats.events += 1
            try:
                self.on_event(change)
            except Exception:
                log.exception("event consumer failed for %s", change.event_id)
        return changes

    def _wants_detection(self, frame: SampledFrame) -> bool:
        """The camera's analyzer decides (its change gate); a frame no analyzer wants is not detected at all."""
        analyzer = self.analyzers.get(frame.camera_id)
        if analyzer is None:
            return False
        try:
            return analyzer.wants_detection(frame)
        except Exception:  # a gate that cannot decide must not cost a look: detect
            log.exception("change gate of %s failed", frame.camera_id, extra={"camera": frame.camera_id})
            return True
