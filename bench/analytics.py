"""Analytics benchmark: CPU per camera for citywall's live pipeline against ultralytics' own streaming predictor.

Why this exists: design.md says one process can analyse a site of tens of cameras on a small CPU machine because
the sampler decodes only the frames it analyses (keyframes when the analysis interval is at least the GOP),
scaled in the decoder, and one shared ONNX Runtime session takes every camera's frames in batches. The obvious
alternative is what ultralytics' documentation shows for several RTSP cameras:
``YOLO(model).predict(source="list.streams", stream=True, vid_stride=k)``. Its ``LoadStreams`` runs a thread per
stream that ``grab()``s (decodes) every frame and keeps only each k-th. This benchmark runs both on the same
streams, the same ONNX model and the same analysis rate, in the same run, so the ratio holds on whatever machine
runs it (absolute figures do not travel).

Setup: the shared demo clips are re-encoded once (cached) as 720p H.264 cameras: 1280x720, 25 fps, Main profile,
no B-frames, a fixed 2 s GOP, about 2 Mbit/s. A real GStreamer RTSP server (streams/devserver) serves one mount
per camera from looped stream copies. Each side runs in its own subprocess
(``python -m bench.analytics --worker ...``), one after the other, so neither counts the other's threads and
ultralytics' import-time changes (``OMP_NUM_THREADS=1``, ``cv2.setNumThreads(0)``) stay in its own process.
Each worker waits until every camera delivers, lets a warm-up pass, then reads its own CPU time (all threads)
over a fixed wall-clock window. The RTSP server is a third process. Its CPU is shown but not counted.

- citywall: a ``CameraSession`` + ``FrameSampler(interval=2 s, width=640)`` per camera feeding
  ``AnalysisPipeline.submit``. One ``Detector`` (vision/models/yolo11n_coco_int8_320.yaml) and a ``CameraAnalyzer`` per
  camera (change gate, tracker, scene guard, a whole-frame road-occupation zone) make up the service's live path
  (wall/runtime/analytics.py). It runs twice: (a) as the service builds it, and (a') with the change gate off
  (``detector_gate: {enabled: false}``), the detector on every look, to show what the gate saves on these scenes.
- baseline: ``YOLO(onnx, task="detect").predict(source=<.streams file>, stream=True, vid_stride=fps*2,
  imgsz=320)``, iterating the generator. OpenCV's RTSP transport is set to TCP, as citywall uses. Everything else
  is ultralytics' default behaviour.

Then citywall alone is run with more and more cameras to find the largest number this machine keeps up with.

The demo clips are busy (cars drive through, people come and go, the lobby camera is hand-held), which is the
worst case for the change gate. ``--still`` makes every camera a still of its clip's first picture with temporal
noise, as a sensor adds, at the same size, rate, GOP and bitrate: a quiet street, the gate's best case. A real
site lies in between; the two runs bound it.

Run from the repository root:
``python -m bench.analytics [--cameras 4] [--seconds 30] [--max-n 40] [--still] [--json PATH]``
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import json
import logging
import math
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.ingest import Clip, machine_label, probe_clip
from streams.devserver.clips import looped_copy
from streams.devserver.rtsp import RtspDevServer, why_unavailable
from vision.card import DEFAULT_CARD, MODEL_PATH_ENV, load_card
from wall.demo import MEDIA

REPO = Path(__file__).resolve().parents[1]
CARD = DEFAULT_CARD.with_name("yolo11n_coco_int8_320.yaml")  # a YOLO11 head: the one model both sides can run
# Its AGPL weights are not in the repository: found through $CITYWALL_MODEL_PATH (vision/card.py), by default in
# ../shared/data/models beside the checkout, where CI keeps them (as for the tests, tests/conftest.py).
SHARED_MODELS = REPO.parent / "shared" / "data" / "models"
DEFAULT_VIDEOS = ("car-detection.mp4", "one-by-one-person-detection.mp4")
DEFAULT_CACHE = Path(tempfile.gettempdir()) / "citywall-bench-cache"

# The cameras: what a 720p sub stream of a street camera typically sends.
CAMERA_SIZE = (1280, 720)
CAMERA_FPS = 25
CAMERA_GOP_S = 2.0
CAMERA_BITRATE = "2M"
CAMERA_CLIP_S = 60

INTERVAL_S = 2.0  # citywall's default analysis interval (CameraConfig.analysis_interval)
SAMPLE_WIDTH = 640  # wall/runtime/analytics.py SAMPLE_WIDTH
IMGSZ = 320  # the model's input size, given to ultralytics as imgsz
MAX_BATCH = 8  # AnalysisPipeline's default
READY_TIMEOUT_S = 40.0
KEEP_UP_FLOOR = 0.9  # a camera analysed at < 90 % of 1 look / interval is falling behind
DROP_CEILING = 0.05  # more than 5 % of sampled frames replaced before the detector got to them: saturated
SWEEP_LADDER = (4, 8, 16, 24, 32, 40, 48, 64, 96, 128)
TARGET_RATIO = 10.0
WHOLE_FRAME = [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)]
RESULT_PREFIX = "RESULT "


# -- what both workers report ---------------------------------------------------------------------------------
@dataclass
class SideResult:
    """One worker's figures over its measured window. Per-camera counts are differences over that window."""

    side: str  # "citywall" or "ultralytics"
    variant: str  # what differs from that side's defaults ("" for none)
    cameras: int
    window_s: float
    cpu_s: float  # time.process_time() over the window: every thread of the worker process
    server_cpu_s: float  # the RTSP server process over the same window (not counted in cpu_s)
    rss_mb: float  # VmRSS at the end of the window
    rss_peak_mb: float  # VmHWM
    looks: dict[str, int]  # frames analysed (citywall) or results yielded (ultralytics), per camera
    detected: dict[str, int]  # looks the detector ran on, per camera (citywall: the rest reused detections)
    received: dict[str, int]  # packets received per camera (citywall only: LoadStreams does not count them)
    decoded: dict[str, int]  # frames that went through the H.264 decoder, per camera
    batch_sizes: dict[int, int]  # detector calls by number of frames
    frames_in: int  # frames offered to the detector stage
    dropped: int | None  # frames replaced by a newer one of the same camera before the detector took them (None:
    # not counted; LoadStreams silently keeps only the newest frame)
    lag_p95_s: float | None  # packet arrival → analysis finished (citywall only)
    lag_max_s: float | None
    thread_cpu_s: dict[str, float]  # CPU over the window by thread group
    stage_s: dict[str, float]  # time inside the detector's stages, from each side's own counters
    problems: list[str] = field(default_factory=list)
    notes: dict[str, str] = field(default_factory=dict)

    @property
    def cpu_s_per_camera_minute(self) -> float:
        return self.cpu_s / self.cameras / (self.window_s / 60)

    @property
    def cores_used(self) -> float:
        return self.cpu_s / self.window_s

    def per_camera_per_s(self, counts: dict[str, int]) -> float:
        return sum(counts.values()) / self.cameras / self.window_s if counts else float("nan")

    @property
    def worst_look_share(self) -> float:
        """The slowest camera's looks as a share of those due (1 every INTERVAL_S)."""
        due = self.window_s / INTERVAL_S
        return min(self.looks.values(), default=0) / due

    def keeps_up(self) -> tuple[bool, str]:
        """Whether every camera got (nearly) all its looks; the reason when not.

        Throughput, not latency: a pipeline that falls behind shows it as missing looks and dropped frames (its
        queues keep only the newest frame per camera). The lag is reported beside it; here every camera's
        keyframes arrive at the same moment (all mounts start together), the worst case for latency.
        """
        reasons = list(self.problems)
        if self.worst_look_share < KEEP_UP_FLOOR:
            reasons.append(f"slowest camera got {self.worst_look_share:.0%} of its looks")
        if self.dropped is not None and self.frames_in and self.dropped > DROP_CEILING * self.frames_in:
            reasons.append(f"{self.dropped} of {self.frames_in} sampled frames dropped")
        return not reasons, "; ".join(reasons) or "ok"


@dataclass(frozen=True)
class Camera:
    id: str
    url: str
    clip: str


# -- measuring inside a worker --------------------------------------------------------------------------------
def _proc_status(field_name: str) -> float:
    """A VmRSS/VmHWM figure of this process, in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _cpu_of(stat_path: Path) -> float:
    """utime + stime of one /proc stat file, in seconds (the comm field may contain spaces: split after it)."""
    fields = stat_path.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def process_cpu(pid: int | None) -> float:
    """CPU seconds of another process (the RTSP server), all its threads; 0 when there is none."""
    if pid is None:
        return 0.0
    try:
        return _cpu_of(Path(f"/proc/{pid}/stat"))
    except OSError:
        return 0.0


def thread_cpu() -> dict[int, tuple[str, float]]:
    """CPU seconds of each thread of this process, by native id, with its kernel name (FFmpeg names its own)."""
    out: dict[int, tuple[str, float]] = {}
    for tid in os.listdir("/proc/self/task"):
        task = Path("/proc/self/task") / tid
        try:
            out[int(tid)] = (task.joinpath("comm").read_text().strip(), _cpu_of(task / "stat"))
        except OSError:
            continue  # the thread ended while we looked
    return out


def thread_group(tid: int, comm: str, python_names: dict[int, str]) -> str:
    """Where a thread's CPU goes, in the words of the report: decode, camera I/O, detector, predictor."""
    name = python_names.get(tid, "")
    if comm.startswith("av:"):
        return "FFmpeg decoder worker threads"
    if name.startswith("camera-"):
        return "camera threads (RTSP, demux, sampler decode + scale)"
    if name == "analysis":
        return "analysis thread (detector pre/post + ORT caller, tracker, rules)"
    if name.endswith("(update)"):
        return "LoadStreams reader threads (grab every frame)"
    if tid == threading.main_thread().native_id:
        return "main thread"
    return "other threads (ONNX Runtime pool, …)"


def group_deltas(first: dict[int, tuple[str, float]], last: dict[int, tuple[str, float]]) -> dict[str, float]:
    """CPU per thread group over the window (a thread that ended inside the window falls out of the breakdown)."""
    names = {t.native_id: t.name for t in threading.enumerate() if t.native_id is not None}
    groups: Counter[str] = Counter()
    for tid, (comm, cpu) in last.items():
        groups[thread_group(tid, comm, names)] += cpu - first.get(tid, (comm, 0.0))[1]
    return {k: round(v, 2) for k, v in sorted(groups.items(), key=lambda kv: -kv[1])}


class Window:
    """Process CPU, wall time, thread CPU and the RTSP server's CPU at the start and end of the window."""

    def __init__(self, server_pid: int | None) -> None:
        self.server_pid = server_pid
        self.cpu0 = self.wall0 = self.server0 = 0.0
        self.threads0: dict[int, tuple[str, float]] = {}

    def begin(self) -> None:
        self.threads0, self.server0 = thread_cpu(), process_cpu(self.server_pid)
        self.cpu0, self.wall0 = time.process_time(), time.monotonic()

    def end(self) -> dict[str, Any]:
        cpu, wall = time.process_time() - self.cpu0, time.monotonic() - self.wall0
        return {
            "window_s": wall,
            "cpu_s": cpu,
            "server_cpu_s": process_cpu(self.server_pid) - self.server0,
            "thread_cpu_s": group_deltas(self.threads0, thread_cpu()),
            "rss_mb": _proc_status("VmRSS"),
            "rss_peak_mb": _proc_status("VmHWM"),
        }


def _diff(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {k: v - before.get(k, 0) for k, v in after.items()}


# -- the citywall worker ------------------------------------------------------------------------------------
def citywall_worker(cameras: Sequence[Camera], seconds: float, warmup: float, server_pid: int | None,
                    gate: bool = True) -> SideResult:
    """The service's live analytics path (wall/runtime/analytics.py) on N RTSP cameras, measured over a window.

    ``gate`` False turns the change gate off (the detector runs on every look).
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

    reconnects = sum(_diff(last["reconnects"], first["reconnects"]).values())
    if reconnects:
        problems.append(f"{reconnects} reconnects in the window")
    lags = sorted(pipeline.lags[first["lags"]:last["lags"]])
    decoded, emitted = _diff(last["decoded"], first["decoded"]), _diff(last["emitted"], first["emitted"])
    return SideResult(
        side="citywall",
        variant="" if gate else "detector_gate: {enabled: false}",
        cameras=len(cameras),
        looks=_diff(last["looks"], first["looks"]),
        detected=_diff(last["detected"], first["detected"]),
        received=_diff(last["received"], first["received"]),
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
            "detector": f"{detector.card.display_name}, {','.join(detector.providers)}, "
                        f"{detector.session.get_session_options().intra_op_num_threads} intra-op threads, "
                        f"{'dynamic' if detector.dynamic_batch else 'fixed-1'} batch",
        },
        **measured,
    )


# -- the ultralytics worker ---------------------------------------------------------------------------------
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
    speed: Counter[str] = Counter()  # ms summed over results, by stage
    batches: Counter[int] = Counter()
    started, done = threading.Event(), threading.Event()
    snapshot: dict[str, Any] = {}
    window = Window(server_pid)

    def decoded() -> dict[str, int]:
        """Frames each stream's VideoCapture has grabbed (decoded), read from its frame counter."""
        caps = model.predictor.dataset.caps  # type: ignore[union-attr]
        return {c.id: int(cap.get(cv2.CAP_PROP_POS_FRAMES)) for c, cap in zip(cameras, caps, strict=True)}

    def timer() -> None:
        started.wait()
        time.sleep(warmup)
        snapshot["first"] = (Counter(results), Counter(speed), Counter(batches), decoded())
        window.begin()
        time.sleep(seconds)
        snapshot["measured"] = window.end()
        snapshot["last"] = (Counter(results), Counter(speed), Counter(batches), decoded())
        done.set()

    threading.Thread(target=timer, name="bench-timer", daemon=True).start()
    ids = [c.id for c in cameras]
    stream = model.predict(source=source, stream=True, vid_stride=vid_stride, imgsz=IMGSZ, verbose=False)
    deadline: float | None = None  # set at the first result: connecting N streams one by one takes a while
    batch = 0
    for result in stream:
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
    model.predictor.dataset.close()  # type: ignore[union-attr]
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
        decoded=_diff(d1, d0),
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


# -- the harness --------------------------------------------------------------------------------------------
def camera_clip(src: Path, dst: Path, *, still: bool = False) -> Path:
    """A '720p street camera' made from a demo clip: scaled, 25 fps, fixed 2 s GOP, Main, no B-frames, ~2 Mbit/s.

    ``still``: the clip's first picture held for the whole clip, with temporal noise of the strength a sensor
    adds in daylight (a quiet street); everything else the same. Cached by name: the encode takes ~20 s per clip
    on 2 cores and the result never changes.
    """
    if not dst.exists():
        dst.parent.mkdir(parents=True, exist_ok=True)
        gop = str(round(CAMERA_FPS * CAMERA_GOP_S))
        partial = dst.with_suffix(".partial.mp4")
        scale = f"scale={CAMERA_SIZE[0]}:{CAMERA_SIZE[1]}:flags=bicubic,fps={CAMERA_FPS}"
        source = ["-stream_loop", "-1", "-i", str(src)]
        if still:
            source = ["-loop", "1", "-framerate", str(CAMERA_FPS), "-i", str(_first_picture(src, dst))]
            scale += ",noise=alls=6:allf=t"
        subprocess.run(
            ["ffmpeg", "-v", "error", "-y", *source, "-t", str(CAMERA_CLIP_S), "-an",
             "-vf", scale,
             "-c:v", "libx264", "-preset", "veryfast", "-profile:v", "main", "-bf", "0",
             "-g", gop, "-keyint_min", gop, "-sc_threshold", "0",
             "-b:v", CAMERA_BITRATE, "-maxrate", CAMERA_BITRATE, "-bufsize", CAMERA_BITRATE,
             "-pix_fmt", "yuv420p", str(partial)],
            check=True,
        )
        partial.rename(dst)
    return dst


def _first_picture(src: Path, dst: Path) -> Path:
    """The first picture of ``src`` as a PNG beside ``dst`` (the still scene's background)."""
    png = dst.with_suffix(".first.png")
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(src), "-frames:v", "1", str(png)], check=True)
    return png


def prepare_clips(names: Sequence[str], cache: Path, workdir: Path, needed_s: float,
                  still: bool = False) -> dict[str, tuple[Clip, Path]]:
    """Each demo clip as a 720p camera (cached) and a looped copy of it that outlasts the whole run."""
    out: dict[str, tuple[Clip, Path]] = {}
    for name in names:
        source = MEDIA / name
        if not source.is_file():
            raise FileNotFoundError(f"no clip {source}")
        tag = f"{CAMERA_SIZE[1]}p{CAMERA_FPS}-gop{CAMERA_GOP_S:g}s-{CAMERA_BITRATE}{'-still' if still else ''}"
        clip_path = camera_clip(source, cache / f"{Path(name).stem}-{tag}.mp4", still=still)
        clip = probe_clip(clip_path)
        loops = max(1, math.ceil(needed_s / clip.duration_s))
        out[name] = (clip, looped_copy(clip_path, workdir / f"looped-{loops}x-{clip_path.name}",
                                       (loops + 1) * clip.duration_s))
    return out


@dataclass(frozen=True)
class RunSpec:
    """What every worker of one benchmark run shares."""

    seconds: float
    warmup: float
    server_pid: int | None
    workdir: Path
    model_path: Path
    vid_stride: int


def run_side(side: str, cameras: Sequence[Camera], spec: RunSpec, gate: bool = True) -> SideResult:
    """Run one worker subprocess and read back its result line (everything else it prints is passed on)."""
    cmd = [sys.executable, "-m", "bench.analytics", "--worker", side, "--seconds", str(spec.seconds),
           "--warmup", str(spec.warmup), "--model", str(spec.model_path), "--vid-stride", str(spec.vid_stride),
           "--workdir", str(spec.workdir)]
    if spec.server_pid is not None:
        cmd += ["--server-pid", str(spec.server_pid)]
    if not gate:
        cmd += ["--no-gate"]
    cmd += [f"{c.id}={c.clip}={c.url}" for c in cameras]
    env = dict(os.environ)
    env["OPENCV_FFMPEG_CAPTURE_OPTIONS"] = "rtsp_transport;tcp"  # OpenCV's default is UDP; citywall uses TCP
    if side == "ultralytics":
        env["YOLO_OFFLINE"] = "1"
        env["YOLO_CONFIG_DIR"] = str(spec.workdir / "ultralytics-config")
    label = f"{side} {'' if gate else 'with the change gate off '}"
    print(f"running {label}with {len(cameras)} cameras …", file=sys.stderr, flush=True)
    proc = subprocess.run(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, text=True, check=False,
                          timeout=READY_TIMEOUT_S + spec.warmup + spec.seconds + 180 + 5 * len(cameras))
    lines = [line for line in proc.stdout.splitlines() if line.startswith(RESULT_PREFIX)]
    if proc.returncode != 0 or not lines:
        tail = "\n".join(proc.stdout.splitlines()[-20:])
        raise RuntimeError(f"{side} worker failed (exit {proc.returncode}):\n{tail}")
    data = json.loads(lines[-1][len(RESULT_PREFIX):])
    data["batch_sizes"] = {int(k): v for k, v in data["batch_sizes"].items()}
    return SideResult(**data)


def sweep_sizes(start: int, max_n: int) -> list[int]:
    """Camera counts to try after the comparison's: the ladder between them, and max_n itself."""
    return sorted({n for n in SWEEP_LADDER if start < n <= max_n} | ({max_n} if max_n > start else set()))


@dataclass
class Report:
    date: str
    command: str
    machine: dict[str, object]
    cameras: int
    seconds: float
    warmup: float
    vid_stride: int
    model: str
    clips: list[Clip]
    citywall: SideResult  # the Detector as the service builds it
    citywall_nogate: SideResult  # the same with the change gate off: the detector on every look
    still: bool  # cameras were still scenes (--still)
    baseline: SideResult | None  # None: the ultralytics worker failed (baseline_error says how)
    baseline_error: str | None
    ratio: float | None  # baseline ÷ citywall, CPU per camera-minute
    ratio_nogate: float | None
    scaling: list[SideResult]  # citywall at increasing N (the comparison's run first)
    largest_n_keeping_up: int | None
    limit_reached: bool  # False: every N tried kept up, so the largest is at least the last one


def run(cameras_n: int, seconds: float, warmup: float, max_n: int, videos: Sequence[str], cache: Path,
        command: str, still: bool = False) -> Report:
    os.environ.setdefault(MODEL_PATH_ENV, str(SHARED_MODELS))
    model_path = load_card(CARD).model_path
    if not model_path.is_file():
        raise FileNotFoundError(f"{model_path.name} (named by {CARD.name}) is not beside it nor in "
                                f"${MODEL_PATH_ENV}={os.environ[MODEL_PATH_ENV]}")
    ladder = sweep_sizes(cameras_n, max_n)
    mounts_n = max([cameras_n, *ladder])
    runs = 3 + len(ladder)
    # The server may keep a shared media playing between clients, so the copies must cover every run back to back.
    needed_s = runs * (READY_TIMEOUT_S + warmup + seconds + 30) + 60
    with tempfile.TemporaryDirectory(prefix="citywall-bench-analytics-") as tmp:
        workdir = Path(tmp)
        prepared = prepare_clips(videos, cache, workdir, needed_s, still)
        names = list(prepared)
        assignment = {f"cam{i:02d}": names[i % len(names)] for i in range(mounts_n)}
        clips = [prepared[n][0] for n in names]
        vid_stride = round(clips[0].fps * INTERVAL_S)
        with RtspDevServer({cam: prepared[name][1] for cam, name in assignment.items()}) as server:
            spec = RunSpec(seconds, warmup, server.proc.pid if server.proc else None, workdir, model_path, vid_stride)
            cams = [Camera(cam, server.url(cam), name) for cam, name in assignment.items()]
            citywall = run_side("citywall", cams[:cameras_n], spec)
            nogate = run_side("citywall", cams[:cameras_n], spec, gate=False)
            baseline, baseline_error = None, None
            try:
                baseline = run_side("ultralytics", cams[:cameras_n], spec)
            except (RuntimeError, subprocess.TimeoutExpired) as exc:
                # The naive loop failing at this N is a finding, not a reason to lose citywall's figures.
                baseline_error = str(exc)
                print(f"baseline failed: {exc}", file=sys.stderr, flush=True)
            scaling = [citywall]
            for n in ladder:
                if not scaling[-1].keeps_up()[0]:
                    break
                scaling.append(run_side("citywall", cams[:n], spec))
    passing = [r.cameras for r in scaling if r.keeps_up()[0]]
    return Report(
        date=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        command=command,
        machine={
            **machine_label(),
            "onnxruntime": importlib.metadata.version("onnxruntime"),
            "ultralytics": importlib.metadata.version("ultralytics"),
            "torch": importlib.metadata.version("torch"),
        },
        cameras=cameras_n,
        seconds=seconds,
        warmup=warmup,
        vid_stride=vid_stride,
        model=model_path.name,
        clips=clips,
        citywall=citywall,
        citywall_nogate=nogate,
        still=still,
        baseline=baseline,
        baseline_error=baseline_error,
        ratio=baseline.cpu_s_per_camera_minute / citywall.cpu_s_per_camera_minute if baseline else None,
        ratio_nogate=baseline.cpu_s_per_camera_minute / nogate.cpu_s_per_camera_minute if baseline else None,
        scaling=scaling,
        largest_n_keeping_up=max(passing) if passing else None,
        limit_reached=not scaling[-1].keeps_up()[0],
    )


def _batches(sizes: dict[int, int]) -> str:
    calls = sum(sizes.values())
    mean = sum(k * v for k, v in sizes.items()) / calls if calls else 0.0
    return f"{' '.join(f'{k}×{v}' for k, v in sizes.items()) or 'none'}  (mean {mean:.2f} frames per call)"


def format_report(report: Report) -> str:
    m, cw, ul = report.machine, report.citywall, report.baseline
    sides = [("(a) citywall pipeline, as the service builds it", cw)]
    sides.append(("(a') citywall, change gate off", report.citywall_nogate))
    if ul is not None:
        sides.append(("(b) ultralytics predict(stream=True)", ul))
    lines = [
        f"citywall analytics benchmark · {report.date}",
        f"command: {report.command}",
        f"machine: {m['cpu_model']} · {m['cores']} cores ({m['usable_cores']} usable) · {m['system']}",
        f"         Python {m['python']} · PyAV {m['pyav']} (libavcodec {m['pyav_libavcodec']}) · OpenCV {m['opencv']} "
        f"(libavcodec {m['opencv_libavcodec']})",
        f"         onnxruntime {m['onnxruntime']} · ultralytics {m['ultralytics']} · torch {m['torch']}",
        f"cameras: {report.cameras} over RTSP/TCP from gst-rtsp-server on 127.0.0.1, taking these clips in turn"
        + (" (--still: each clip's first picture held, with sensor-like noise):" if report.still else ":"),
    ]
    lines += [f"  {c.name:<48} {c.label}" for c in report.clips]
    lines += [
        f"analysis: 1 look / {INTERVAL_S:g} s per camera on every side, same model {report.model} ({IMGSZ} px); "
        f"ultralytics vid_stride={report.vid_stride}",
        f"window: {report.seconds:g} s per run after {report.warmup:g} s warm-up; each side in its own subprocess, "
        "one after the other; the server's CPU is not counted",
        "",
        f"{'side':<40} {'CPU s/cam-min':>13} {'cores':>6} {'looks/cam/s':>11} {'detected':>8} "
        f"{'decoded/cam/s':>13} {'RSS MiB':>8}",
    ]
    for title, r in sides:
        share = sum(r.detected.values()) / max(1, sum(r.looks.values()))
        lines.append(
            f"{title:<40} {r.cpu_s_per_camera_minute:>13.2f} {r.cores_used:>6.3f} "
            f"{r.per_camera_per_s(r.looks):>11.3f} {share:>8.0%} {r.per_camera_per_s(r.decoded):>13.2f} "
            f"{r.rss_mb:>8.0f}"
        )
    lines.append("")
    if report.baseline_error:
        lines.append(f"(b) ultralytics FAILED, so there is no ratio: {report.baseline_error.splitlines()[0]}")
    ratios = [("(a)", report.ratio, cw), ("(a')", report.ratio_nogate, report.citywall_nogate)]
    for key, ratio, mine in ratios:
        if ratio is None or mine is None or ul is None:
            continue
        if ul.keeps_up()[0] and mine.keeps_up()[0]:
            verdict = f"target ×{TARGET_RATIO:g}: {'met' if ratio >= TARGET_RATIO else 'NOT met'}"
        else:  # a side that misses looks did less work: its CPU per camera is not the same job's
            verdict = "VOID: not both sides kept up"
        lines.append(f"baseline ÷ citywall {key:<4}, CPU per camera at the same analysis rate: ×{ratio:.1f}   "
                     f"({verdict})")
    for title, r in sides:
        ok, why = r.keeps_up()
        lines.append(f"  {title.split()[0]} keeps up with {r.cameras} cameras: {'yes' if ok else 'NO'} ({why})")

    for title, r in sides:
        lines += ["", f"{title}, per camera per second:"]
        if r.side == "citywall":
            share = sum(r.decoded.values()) / max(1, sum(r.received.values()))
            lag = f"lag p95 {r.lag_p95_s:.2f} s, max {r.lag_max_s:.2f} s" if r.lag_max_s is not None else "no lags"
            lines += [
                f"  received {r.per_camera_per_s(r.received):.2f} packets · decoded "
                f"{r.per_camera_per_s(r.decoded):.2f} frames ({share:.1%}) · "
                f"analysed {r.per_camera_per_s(r.looks):.3f}",
                f"  detector batches: {_batches(r.batch_sizes)}",
                f"  frames in {r.frames_in} · analysed {sum(r.looks.values())} (detector on "
                f"{sum(r.detected.values())}, the rest reused detections) · dropped {r.dropped} · {lag}",
            ]
        else:
            lines += [
                f"  decoded {r.per_camera_per_s(r.decoded):.2f} frames (LoadStreams grab()s every frame) · "
                f"results {r.per_camera_per_s(r.looks):.3f}",
                f"  predictor batches: {_batches(r.batch_sizes)}",
            ]

    lines += ["", "where the CPU goes, in CPU ms per camera per second (stage lines: wall ms per detected frame for "
              "the detector's stages, per analysed frame for the rest):"]
    for title, r in sides:
        cam_s = r.cameras * r.window_s
        frames, detected = max(1, sum(r.looks.values())), max(1, sum(r.detected.values()))
        lines.append(f"  {title}: {1000 * r.cpu_s / cam_s:.1f} ms in all")
        lines += [f"    {k:<66} {1000 * v / cam_s:7.1f}" for k, v in r.thread_cpu_s.items()]
        lines += [f"    · {k:<64} {1000 * v / (detected if 'detector' in k else frames):7.1f}"
                  for k, v in r.stage_s.items()]

    lines += ["", "memory (RSS MiB at the end of the window / peak):"]
    lines += [f"  {title:<48} {r.rss_mb:7.0f} / {r.rss_peak_mb:7.0f}" for title, r in sides]

    lines += [
        "",
        "citywall (a) scaling, same window per run; keeps up = every camera ≥ "
        f"{KEEP_UP_FLOOR:.0%} of its looks and ≤ {DROP_CEILING:.0%} of sampled frames dropped;",
        "  lag = packet arrived → analysis done (all cameras' keyframes arrive together here: latency's worst case)",
        f"  {'N':>4} {'CPU s/cam-min':>13} {'cores':>6} {'server cores':>12} {'slowest cam':>11} {'dropped':>8} "
        f"{'lag p95':>8} {'mean batch':>10} {'RSS MiB':>8}  keeps up",
    ]
    for r in report.scaling:
        ok, why = r.keeps_up()
        calls = sum(r.batch_sizes.values())
        mean = sum(k * v for k, v in r.batch_sizes.items()) / calls if calls else 0.0
        lag = f"{r.lag_p95_s:.2f}" if r.lag_p95_s is not None else "?"
        lines.append(
            f"  {r.cameras:>4} {r.cpu_s_per_camera_minute:>13.2f} {r.cores_used:>6.3f} "
            f"{r.server_cpu_s / r.window_s:>12.3f} {r.worst_look_share:>11.0%} {r.dropped:>8} {lag:>8} "
            f"{mean:>10.2f} {r.rss_mb:>8.0f}  {'yes' if ok else 'NO: ' + why}"
        )
    if report.largest_n_keeping_up is None:
        lines.append("largest N that keeps up: none of those tried")
    elif report.limit_reached:
        lines.append(f"largest N that keeps up on this machine: {report.largest_n_keeping_up}")
    else:
        lines.append(f"largest N that keeps up on this machine: ≥ {report.largest_n_keeping_up} "
                     "(every N tried kept up; raise --max-n to find the limit)")
    notes = [f"  {title.split()[0]} {k}: {v}" for title, r in sides for k, v in r.notes.items()]
    return "\n".join([*lines, "", "notes:", *notes])


# -- command line -------------------------------------------------------------------------------------------
def worker_main(args: argparse.Namespace) -> int:
    """``--worker SIDE``: measure one side and print its result as one JSON line (the harness reads it)."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    cameras = [Camera(id=i, clip=c, url=u) for i, c, u in (spec.split("=", 2) for spec in args.specs)]
    if args.worker == "citywall":
        result = citywall_worker(cameras, args.seconds, args.warmup, args.server_pid, gate=not args.no_gate)
    else:
        result = ultralytics_worker(cameras, args.seconds, args.warmup, args.server_pid, args.model,
                                    args.vid_stride, args.workdir)
    print(RESULT_PREFIX + json.dumps(asdict(result)), flush=True)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.analytics", description=__doc__.splitlines()[0])
    parser.add_argument("--cameras", type=int, default=4, help="cameras in the comparison (default 4)")
    parser.add_argument("--seconds", type=float, default=30.0, help="measured window per run (default 30)")
    parser.add_argument("--warmup", type=float, default=6.0,
                        help="seconds after every camera delivered before the window (default 6)")
    parser.add_argument("--max-n", type=int, default=40,
                        help="most cameras citywall is tried with to find the largest N that keeps up (default 40)")
    parser.add_argument("--videos", nargs="+", default=list(DEFAULT_VIDEOS), metavar="NAME",
                        help=f"clips from {MEDIA}, made into 720p cameras and assigned in turn")
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE,
                        help=f"where the 720p camera clips are kept between runs (default {DEFAULT_CACHE})")
    parser.add_argument("--still", action="store_true",
                        help="make each camera a still of its clip's first picture with sensor-like noise (a quiet "
                             "street: the change gate's best case; the clips themselves are its worst)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the results as JSON")
    # Internal: the harness starts each side as `--worker SIDE ... ID=CLIP=URL ...`.
    parser.add_argument("--worker", choices=("citywall", "ultralytics"), help=argparse.SUPPRESS)
    parser.add_argument("--server-pid", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--model", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--vid-stride", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--no-gate", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("specs", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker_main(args)
    if args.cameras < 1 or args.seconds <= 0 or args.warmup < 0 or args.max_n < 1:
        parser.error("--cameras and --max-n must be ≥ 1, --seconds > 0, --warmup ≥ 0")
    missing = why_unavailable()
    if missing is None:
        try:
            importlib.metadata.version("ultralytics")
        except importlib.metadata.PackageNotFoundError:
            missing = "ultralytics is not installed (the baseline; see design.md: the 'train' extra)"
    if missing:
        print(f"cannot run: {missing}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    command = "python -m bench.analytics " + " ".join(argv if argv is not None else sys.argv[1:])
    report = run(args.cameras, args.seconds, args.warmup, args.max_n, args.videos, args.cache_dir, command.strip(),
                 args.still)
    print(format_report(report), flush=True)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        data = asdict(report)
        for key in ("citywall", "citywall_nogate", "baseline"):
            if data[key] is not None:  # the JSON also gets the figure the table is about
                data[key]["cpu_s_per_camera_minute"] = getattr(report, key).cpu_s_per_camera_minute
        for row, r in zip(data["scaling"], report.scaling, strict=True):
            row["cpu_s_per_camera_minute"] = r.cpu_s_per_camera_minute
            row["keeps_up"] = r.keeps_up()[0]
        args.json.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    both_keep_up = report.citywall.keeps_up()[0] and report.baseline is not None and report.baseline.keeps_up()[0]
    return 0 if both_keep_up else 1


if __name__ == "__main__":
    sys.exit(main())
