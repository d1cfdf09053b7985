"""The citywall side of the analytics benchmark: the service's live analytics path on N RTSP cameras.

A CameraSession + FrameSampler per camera feeding one AnalysisPipeline (one Detector, a CameraAnalyzer per
camera), as wall/runtime/analytics.py builds it; measured over a window in its own worker process.
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

from bench.analytics.result import (
    CARD,
    INTERVAL_S,
    MAX_BATCH,
    READY_TIMEOUT_S,
    SAMPLE_WIDTH,
    Camera,
    SideResult,
    diff_counts,
)
from bench.analytics.window import Window

WHOLE_FRAME = [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)]


class LiveViews:
    """A live view of every camera as the service makes one (wall/live.py): a LiveRemux attached to the session
    and a LiveViewer on it, drained by one thread like a client that keeps up."""

    def __init__(self, sessions: Sequence[Any]) -> None:
        from streams.remux import LiveRemux, LiveViewer

        self.pairs = [(s, LiveRemux(s.id), LiveViewer(max_seconds=3.0)) for s in sessions]
        self.fragments = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._drain, name="live-drain", daemon=True)

    def start(self) -> None:
        for session, remux, viewer in self.pairs:
            remux.add_viewer(viewer)
            session.attach(remux)
        self._thread.start()

    def _drain(self) -> None:
        while not self._stop.wait(0.04):
            self.fragments += sum(len(viewer.drain()) for _, _, viewer in self.pairs)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)


def citywall_worker(cameras: Sequence[Camera], seconds: float, warmup: float, server_pid: int | None,
                    gate: bool = True, live: bool = False) -> SideResult:
    """The service's live analytics path (wall/runtime/analytics.py) on N RTSP cameras, measured over a window.

    ``gate`` False turns the change gate off (the detector runs on every look). ``live`` adds one live view per
    camera: the session's LiveRemux (fMP4, in the camera thread) and a viewer drained every 40 ms by a thread of
    its own (a fast client), so the camera threads' difference against the run without is the live path's cost.
    """
    from streams.config import CameraConfig, StreamSettings
    from streams.sampler import FrameSampler, SampledFrame
    from streams.session import CameraSession
    from vision.analyzer import CameraAnalyzer
    from vision.catalogue import load_catalogue
    from vision.detector import Detector
    from vision.events import EventChange
    from vision.pipeline import AnalysisPipeline
    from vision.rules_config import CameraRules

    class TimedPipeline(AnalysisPipeline):
        """The pipeline, also noting how long after its packet arrived each frame was analysed: a pipeline
        that keeps up analyses a look well before the next one is due."""

        lags: list[float]

        def process(self, batch: list[SampledFrame]) -> list[EventChange]:
            changes = super().process(batch)
            now = time.monotonic()
            self.lags.extend(now - f.mono for f in batch if f.mono)
            return changes

    detector = Detector(CARD)
    catalogue = load_catalogue()
    rules = CameraRules.model_validate(
        {"zones": [{"id": "street", "family": "road_occupation", "classes": ["car", "person"],
                    "polygon": WHOLE_FRAME}], "detector_gate": {"enabled": gate}}
    )
    analyzers = {c.id: CameraAnalyzer(c.id, rules, detector.card.families, catalogue) for c in cameras}
    events: list[EventChange] = []
    pipeline = TimedPipeline(detector, analyzers, events.append, max_batch=MAX_BATCH)
    pipeline.lags = []
    settings = StreamSettings()
    sessions = [CameraSession(CameraConfig(id=c.id, name=f"bench {c.id}", url=c.url), settings) for c in cameras]
    samplers = {s.id: FrameSampler(s.id, INTERVAL_S, pipeline.submit, width=SAMPLE_WIDTH) for s in sessions}
    viewers = LiveViews(sessions) if live else None

    def counters() -> dict[str, Any]:
        stats, det = pipeline.stats, detector.stats
        return {
            "looks": {i: a.looks for i, a in analyzers.items()},
            "detected": {i: a.gate.detections for i, a in analyzers.items()},
            "received": {s.id: s.health.packets for s in sessions},
            "decoded": {i: p.decoded for i, p in samplers.items()},
            "emitted": {i: p.emitted for i, p in samplers.items()},
            "reconnects": {s.id: s.health.reconnects for s in sessions},
            "batch_sizes": Counter(stats.batch_sizes),
            "frames_in": stats.frames_in,
            "dropped": stats.frames_dropped,
            "lags": len(pipeline.lags),
            "stage_s": {
                "detector preprocess (letterbox, to float)": det.preprocess_seconds,
                "detector inference (ONNX Runtime, wall)": det.inference_seconds,
                "detector postprocess (decode, NMS)": det.postprocess_seconds,
                "analysers (tracker, zones, rules; wall)": stats.analyse_seconds,
            },
        }

    pipeline.start()
    for session in sessions:
        session.attach(samplers[session.id])
        session.start()
    if viewers is not None:
        viewers.start()
    problems: list[str] = []
    window = Window(server_pid)
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not all(a.looks for a in analyzers.values()):
            if time.monotonic() > deadline:
                raise RuntimeError("not every camera was analysed within the ready timeout: " + ", ".join(
                    f"{s.id} {s.health.current_state().value} ({s.health.last_error or 'no error'})"
                    for s in sessions if not analyzers[s.id].looks
                ))
            time.sleep(0.1)
        time.sleep(warmup)
        first = counters()
        window.begin()
        time.sleep(seconds)
        measured = window.end()
        last = counters()
        for s in sessions:
            if s.health.current_state().value != "live":
                problems.append(f"{s.id}: {s.health.current_state().value} ({s.health.last_error})")
    finally:
        for session in sessions:
            session.request_stop()
        for session in sessions:
            session.stop()
        pipeline.stop()
        if viewers is not None:
            viewers.stop()

    reconnects = sum(diff_counts(last["reconnects"], first["reconnects"]).values())
    if reconnects:
        problems.append(f"{reconnects} reconnects in the window")
    lags = sorted(pipeline.lags[first["lags"]:last["lags"]])
    decoded, emitted = diff_counts(last["decoded"], first["decoded"]), diff_counts(last["emitted"], first["emitted"])
    return SideResult(
        side="citywall",
        variant=("" if gate else "detector_gate: {enabled: false}") + (" + one live view per camera" if live else ""),
        cameras=len(cameras),
        looks=diff_counts(last["looks"], first["looks"]),
        detected=diff_counts(last["detected"], first["detected"]),
        received=diff_counts(last["received"], first["received"]),
        decoded=decoded,
        batch_sizes=dict(sorted((last["batch_sizes"] - first["batch_sizes"]).items())),
        frames_in=last["frames_in"] - first["frames_in"],
        dropped=last["dropped"] - first["dropped"],
        lag_p95_s=lags[max(0, math.ceil(0.95 * len(lags)) - 1)] if lags else None,
        lag_max_s=lags[-1] if lags else None,
        stage_s={k: round(v - first["stage_s"][k], 2) for k, v in last["stage_s"].items()},
        problems=problems,
        notes={
            "sampled frames emitted per camera": f"{sum(emitted.values()) / len(cameras):.1f}",
            "events": str(len(events)),
            **({"live fragments received per camera": f"{viewers.fragments / len(cameras):.0f}"} if viewers else {}),
            "detector": f"{detector.card.display_name}, {','.join(detector.providers)}, "
                        f"{detector.session.get_session_options().intra_op_num_threads} intra-op threads, "
                        f"{'dynamic' if detector.dynamic_batch else 'fixed-1'} batch",
        },
        **measured,
    )

