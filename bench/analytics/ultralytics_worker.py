"""The baseline side of the analytics benchmark: ultralytics' documented multi-stream predict loop.

``YOLO(onnx).predict(source=<.streams file>, stream=True, vid_stride=k)`` on the same cameras and model as the
citywall side; its LoadStreams decodes every frame and keeps each k-th. ultralytics is imported only here, in
this worker's own process, so its import-time thread settings never touch the citywall side.
"""

from __future__ import annotations

import importlib.metadata
import os
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from bench.analytics.result import IMGSZ, Camera, SideResult, diff_counts
from bench.analytics.window import Window

if TYPE_CHECKING:
    from ultralytics.engine.results import Results


def ultralytics_worker(cameras: Sequence[Camera], seconds: float, warmup: float, server_pid: int | None,
                       model_path: Path, vid_stride: int, workdir: Path) -> SideResult:
    """ultralytics' documented multi-stream loop on the same cameras and model, measured over a window.

    The window is timed by a helper thread because the loop blocks inside the generator between results;
    ``time.process_time`` covers the whole process whichever thread reads it.
    """
    import cv2
    from ultralytics import YOLO

    if len(cameras) == 1:
        source = cameras[0].url
    else:
        streams = workdir / "cameras.streams"
        streams.write_text("".join(c.url + "\n" for c in cameras))
        source = str(streams)
    model = YOLO(str(model_path), task="detect")
    results: Counter[str] = Counter()  # per camera id
    speed: defaultdict[str, float] = defaultdict(float)  # ms summed over results, by stage
    batches: Counter[int] = Counter()
    started, done = threading.Event(), threading.Event()
    snapshot: dict[str, Any] = {}
    window = Window(server_pid)

    def decoded() -> dict[str, int]:
        """Frames each stream's VideoCapture has grabbed (decoded), read from its frame counter."""
        caps = model.predictor.dataset.caps  # type: ignore[attr-defined]
        return {c.id: int(cap.get(cv2.CAP_PROP_POS_FRAMES)) for c, cap in zip(cameras, caps, strict=True)}

    def timer() -> None:
        started.wait()
        time.sleep(warmup)
        snapshot["first"] = (Counter(results), defaultdict(float, speed), Counter(batches), decoded())
        window.begin()
        time.sleep(seconds)
        snapshot["measured"] = window.end()
        snapshot["last"] = (Counter(results), defaultdict(float, speed), Counter(batches), decoded())
        done.set()

    threading.Thread(target=timer, name="bench-timer", daemon=True).start()
    ids = [c.id for c in cameras]
    stream = model.predict(source=source, stream=True, vid_stride=vid_stride, imgsz=IMGSZ, verbose=False)
    deadline: float | None = None  # set at the first result: connecting N streams one by one takes a while
    batch = 0
    for result in cast("Iterator[Results]", stream):  # stream=True yields one Results per image
        # A batch is one result per stream, in source order; the path names the stream (the URL, cleaned).
        cam = next((i for i in ids if str(result.path).endswith(i)), str(result.path))
        results[cam] += 1
        for stage, ms in result.speed.items():
            speed[stage] += ms or 0.0
        batch += 1
        if batch == len(cameras):
            batches[batch] += 1
            batch = 0
        if deadline is None:
            deadline = time.monotonic() + warmup + seconds + 30
            started.set()
        if done.is_set() or time.monotonic() > deadline:
            break
    model.predictor.dataset.close()  # type: ignore[attr-defined]
    if not done.is_set():
        raise RuntimeError("the ultralytics stream ended or stalled before the window was over (LoadStreams stops "
                           "when a reader thread dies)")

    (r0, s0, b0, d0), (r1, s1, b1, d1) = snapshot["first"], snapshot["last"]
    looks = {i: r1[i] - r0[i] for i in ids}
    per_stage = {k: (s1[k] - s0[k]) / 1000 for k in s1}
    images = sum(looks.values())
    return SideResult(
        side="ultralytics",
        variant="",
        cameras=len(cameras),
        looks=looks,
        detected=looks,  # the predictor runs the model on every result
        received={},
        decoded=diff_counts(d1, d0),
        batch_sizes=dict(sorted((b1 - b0).items())),
        frames_in=images,
        dropped=None,
        lag_p95_s=None,
        lag_max_s=None,
        # Result.speed is the batch's time per image, so the sum over results is the batch's whole time.
        stage_s={f"predictor {k} (wall)": round(v, 2) for k, v in per_stage.items()},
        notes={
            "model": f"{model_path.name} via ultralytics {importlib.metadata.version('ultralytics')} AutoBackend "
                     f"(ONNX Runtime, its default session options)",
            "OMP_NUM_THREADS (set by ultralytics on import)": os.environ.get("OMP_NUM_THREADS", "unset"),
            "cv2 threads (ultralytics sets 0 on import)": str(cv2.getNumThreads()),
        },
        **snapshot["measured"],
    )
