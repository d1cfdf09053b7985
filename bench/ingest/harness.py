"""The ingest benchmark's harness: run each scenario over the same cameras, take CPU and memory over a window.

Every scenario is measured the same way in this one process (citywall's ingest runs in the service's process,
so its threads are what a deployment pays); the RTSP server is a separate process and is not counted.
"""

from __future__ import annotations

import datetime as dt
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.clips import Clip, prepare_clips
from bench.ingest.scenarios import BaselineScenario, Camera, RemuxScenario, SamplingScenario, Scenario
from bench.machine import machine_label, rss_mb, trim_heap
from streams.devserver.rtsp import RtspDevServer

READY_TIMEOUT_S = 30.0
THROUGHPUT_FLOOR = 0.9  # below 90 % of the stream's fps a reader is falling behind: the comparison is void


@dataclass
class ScenarioResult:
    key: str
    title: str
    cameras: int
    wall_s: float
    cpu_s: float
    ms_cpu_per_camera_video_s: float  # cpu_s / (cameras * wall_s), in ms
    cores_used: float  # cpu_s / wall_s: how much of the machine the scenario took
    rss_before_mb: float
    rss_end_mb: float  # at the end of the window, everything still running
    rss_after_stop_mb: float
    mb_per_camera: float  # (rss_end - rss_before) / cameras
    per_camera: dict[str, dict[str, float]]  # counter differences over the window
    per_clip_per_s: dict[str, dict[str, float]]  # mean per camera per wall second, grouped by clip
    notes: dict[str, str] = field(default_factory=dict)


def wait_ready(scenario: Scenario, timeout: float = READY_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    while not scenario.ready():
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"{scenario.title}: not every camera came up in {timeout:g} s: "
                + "; ".join(scenario.problems())
            )
        time.sleep(0.1)


def measure(
    make: Callable[[Sequence[Camera]], Scenario], cameras: Sequence[Camera], seconds: float, warmup: float
) -> ScenarioResult:
    """Start, wait until every camera flows, let start-up pass, then take CPU and wall time over a window.

    ``time.process_time`` is the CPU time of every thread of this process (PyAV's, OpenCV's FFmpeg threads
    included), which is what a deployment pays; connection set-up and stream probing fall in the warm-up.
    The scenario is built and dropped here, so 'after stop' shows what stopping really gives back.
    """
    trim_heap()
    rss_before = rss_mb()
    threads_before = threading.active_count()
    scenario = make(cameras)
    key, title = scenario.key, scenario.title
    print(f"running {title} …", file=sys.stderr, flush=True)
    scenario.start()
    try:
        wait_ready(scenario)
        time.sleep(warmup)
        first = scenario.counters()
        cpu0, wall0 = time.process_time(), time.monotonic()
        time.sleep(seconds)
        cpu1, wall1 = time.process_time(), time.monotonic()
        last = scenario.counters()
        rss_end = rss_mb()
        notes = scenario.notes()
    finally:
        scenario.stop()
        del scenario
    trim_heap()
    rss_after = rss_mb()
    leftover = threading.active_count() - threads_before
    if leftover:
        notes["threads_left_after_stop"] = str(leftover)

    wall, cpu, n = wall1 - wall0, cpu1 - cpu0, len(cameras)
    per_camera = {
        cam: {k: float(v - first[cam][k]) for k, v in counts.items()} for cam, counts in last.items()
    }
    per_clip: dict[str, dict[str, float]] = {}
    for clip in sorted({c.clip.name for c in cameras}):
        ids = [c.id for c in cameras if c.clip.name == clip]
        keys = per_camera[ids[0]].keys()
        per_clip[clip] = {k: sum(per_camera[i][k] for i in ids) / len(ids) / wall for k in keys}
    return ScenarioResult(
        key=key,
        title=title,
        cameras=n,
        wall_s=wall,
        cpu_s=cpu,
        ms_cpu_per_camera_video_s=1000 * cpu / (n * wall),
        cores_used=cpu / wall,
        rss_before_mb=rss_before,
        rss_end_mb=rss_end,
        rss_after_stop_mb=rss_after,
        mb_per_camera=(rss_end - rss_before) / n,
        per_camera=per_camera,
        per_clip_per_s=per_clip,
        notes=notes,
    )


@dataclass
class Report:
    date: str
    machine: dict[str, object]
    cameras: int
    seconds: float
    warmup: float
    clips: list[Clip]
    assignment: dict[str, str]  # camera id -> clip name
    scenarios: dict[str, ScenarioResult]
    ratios: dict[str, float]  # baseline ÷ citywall, CPU per camera per video-second
    throughput: dict[str, dict[str, float]]  # per clip: stream fps and what each scenario received/decoded
    throughput_ok: bool


def throughput(
    clips: Sequence[Clip], results: dict[str, ScenarioResult]
) -> tuple[dict[str, dict[str, float]], bool]:
    """Frames per second per camera each scenario took in vs the stream's fps: all saw the same video."""
    table: dict[str, dict[str, float]] = {}
    ok = True
    for clip in clips:
        row = {"stream_fps": clip.fps}
        for key, counter in (("sampling", "packets"), ("remux", "packets"), ("baseline", "frames")):
            if key in results:
                row[f"{key}_{counter}_per_s"] = results[key].per_clip_per_s[clip.name][counter]
        table[clip.name] = row
        ok = ok and all(v >= THROUGHPUT_FLOOR * clip.fps for k, v in row.items() if k != "stream_fps")
    return table, ok



def run(cameras_n: int, seconds: float, warmup: float, videos: Sequence[str]) -> Report:
    # Each scenario may take the ready timeout, the warm-up and the window; the server may or may not restart
    # a shared media between scenarios, so the copies must cover all three back to back.
    needed_s = 3 * (READY_TIMEOUT_S + warmup + seconds) + 60
    with tempfile.TemporaryDirectory(prefix="citywall-bench-") as tmp:
        clips, copies = prepare_clips(videos, Path(tmp), needed_s)
        assignment = {f"cam{i:02d}": clips[i % len(clips)] for i in range(cameras_n)}
        mounts = {cam_id: copies[clip.name] for cam_id, clip in assignment.items()}
        results: dict[str, ScenarioResult] = {}
        with RtspDevServer(mounts) as server:
            cameras = [Camera(cam_id, server.url(cam_id), clip) for cam_id, clip in assignment.items()]
            for make in (SamplingScenario, RemuxScenario, BaselineScenario):
                result = measure(make, cameras, seconds, warmup)
                results[result.key] = result
    base = results["baseline"].ms_cpu_per_camera_video_s
    ratios = {k: base / results[k].ms_cpu_per_camera_video_s for k in ("sampling", "remux")}
    table, ok = throughput(clips, results)
    return Report(
        date=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        machine=machine_label(),
        cameras=cameras_n,
        seconds=seconds,
        warmup=warmup,
        clips=clips,
        assignment={k: v.name for k, v in assignment.items()},
        scenarios=results,
        ratios=ratios,
        throughput=table,
        throughput_ok=ok,
    )
