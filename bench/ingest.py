"""Ingest benchmark: CPU and memory per camera for citywall's two ingest paths against a naive full decode.

Why this exists: design.md claims that one process can serve a site of tens of cameras because analytics
decode only what they use (keyframes at the analysis interval, scaled in the decoder) and the wall gets the
camera's own H.264 remuxed to fMP4 rather than decoded and re-encoded. This benchmark checks both claims
against the obvious alternative, ``cv2.VideoCapture`` decoding every frame, on the same RTSP streams in the
same process run, so the ratios hold on whatever machine runs it (absolute figures do not travel).

Setup: a real GStreamer RTSP server (streams/devserver) serves one mount per camera from looped copies of the
shared demo clips. Three scenarios run one after the other against that server, each with every camera
connected; between them everything is stopped. For each, this process's CPU time (all threads) is taken over
a fixed wall-clock window; the server runs in its own process and is not counted. The server paces the files
at real time, so a wall second is a video second, which the throughput check verifies.

Run from the repository root:  ``python -m bench.ingest [--cameras 8] [--seconds 20] [--json PATH]``
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import ctypes.util
import datetime as dt
import gc
import itertools
import json
import logging
import math
import os
import platform
import re
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

import av
import cv2

from streams.config import CameraConfig, StreamSettings
from streams.devserver.clips import looped_copy
from streams.devserver.rtsp import RtspDevServer, why_unavailable
from streams.remux import Fragment, LiveViewer
from streams.sampler import FrameSampler, SampledFrame
from streams.session import CameraSession
from wall.demo import MEDIA

# The two 768x432 street clips: one with a 4.8 s GOP (longer than the analysis interval), one with a 1 s GOP.
DEFAULT_VIDEOS = ("car-detection.mp4", "one-by-one-person-detection.mp4")
SAMPLE_INTERVAL_S = 2.0  # citywall's default analysis interval (CameraConfig.analysis_interval)
SAMPLE_WIDTH = 640  # what a detector at 640 px wants; scaled in FFmpeg, not in Python
VIEWER_BUFFER_S = 4.0  # StreamSettings.viewer_buffer_seconds
DRAIN_EVERY_S = 0.05  # how often a WebSocket sender would wake up and send what is queued
READY_TIMEOUT_S = 30.0
THROUGHPUT_FLOOR = 0.9  # below 90 % of the stream's fps a reader is falling behind: the comparison is void


# -- what is measured on ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Clip:
    """A source clip as the cameras will send it (stream copy, so these are the RTSP stream's parameters)."""

    name: str
    path: str
    codec: str
    profile: str | None
    width: int
    height: int
    fps: float
    gop_s: float | None
    duration_s: float

    @property
    def label(self) -> str:
        gop = f"GOP {self.gop_s:.2f} s" if self.gop_s else "GOP ?"
        return f"{self.width}x{self.height} {self.codec} {self.profile or ''} {self.fps:g} fps {gop}"


def probe_clip(path: Path) -> Clip:
    """Read the clip's packets (no decode) for its frame rate and keyframe spacing: they drive the sampler."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        cc = stream.codec_context
        rate = stream.average_rate or stream.guessed_rate
        keys = [
            float(p.pts * p.time_base) for p in container.demux(stream) if p.is_keyframe and p.pts is not None
        ]
        duration = container.duration / av.time_base if container.duration else float(stream.duration or 0)
    gaps = [b - a for a, b in itertools.pairwise(keys)]
    return Clip(
        name=path.name,
        path=str(path),
        codec=cc.name,
        profile=cc.profile,
        width=cc.width,
        height=cc.height,
        fps=float(rate) if rate else 25.0,
        gop_s=sum(gaps) / len(gaps) if gaps else None,
        duration_s=duration,
    )


@dataclass(frozen=True)
class Camera:
    id: str
    url: str
    clip: Clip


def machine_label() -> dict[str, object]:
    """Enough to tell two runs' machines and decoder builds apart when comparing their absolute figures."""
    uname = platform.uname()
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cv_avcodec = re.search(r"avcodec:\s+YES \(([\d.]+)\)", cv2.getBuildInformation())
    return {
        "cpu_model": model or platform.processor() or uname.machine,
        "processor": platform.processor(),
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "system": f"{uname.system} {uname.release} {uname.machine}",
        "python": platform.python_version(),
        "pyav": av.__version__,
        "pyav_libavcodec": ".".join(map(str, av.library_versions.get("libavcodec", ()))),
        "opencv": cv2.__version__,
        "opencv_libavcodec": cv_avcodec.group(1) if cv_avcodec else "?",
    }


def rss_mb() -> float:
    """Resident memory of this process now (VmRSS), in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def trim_heap() -> None:
    """Return freed heap to the OS, so one scenario's garbage does not hide in the next one's 'RSS before'."""
    gc.collect()
    libc = ctypes.util.find_library("c")
    if libc:
        # Not glibc: no malloc_trim, and the memory figures are merely a little less clean.
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(libc).malloc_trim(0)


# -- the scenarios ------------------------------------------------------------------------------------------
class Scenario(Protocol):
    """One way of ingesting every camera. Counters are cumulative per camera; the harness takes deltas."""

    key: str
    title: str

    def start(self) -> None: ...
    def ready(self) -> bool: ...
    def problems(self) -> list[str]: ...
    def counters(self) -> dict[str, dict[str, int]]: ...
    def notes(self) -> dict[str, str]: ...
    def stop(self) -> None: ...


class _Sessions:
    """citywall's own ingest: a CameraSession (PyAV reader thread, ring, health) per camera."""

    def __init__(self, cameras: Sequence[Camera]) -> None:
        self.cameras = cameras
        settings = StreamSettings()
        self.sessions = [
            CameraSession(
                CameraConfig(id=cam.id, name=f"bench {cam.id} ({cam.clip.name})", url=cam.url), settings
            )
            for cam in cameras
        ]

    def ready(self) -> bool:
        return all(s.health.current_state().value == "live" for s in self.sessions)

    def problems(self) -> list[str]:
        return [
            f"{s.id}: {s.health.current_state().value} ({s.health.last_error or 'no error'})"
            for s in self.sessions
            if s.health.current_state().value != "live"
        ]

    def notes(self) -> dict[str, str]:
        return {}

    def stop(self) -> None:
        for session in self.sessions:
            session.request_stop()  # signal all first, as the hub does, so they wind down in parallel
        for session in self.sessions:
            session.stop()


class SamplingScenario(_Sessions):
    """(a) Analytics ingest: a FrameSampler per camera taking one look every 2 s, scaled to 640 px wide."""

    key = "sampling"
    title = f"(a) citywall sampling, 1 look / {SAMPLE_INTERVAL_S:g} s, {SAMPLE_WIDTH} px"

    def __init__(self, cameras: Sequence[Camera]) -> None:
        super().__init__(cameras)
        self.sizes: dict[str, str] = {}
        self.samplers = [
            FrameSampler(s.id, SAMPLE_INTERVAL_S, self._on_frame, width=SAMPLE_WIDTH) for s in self.sessions
        ]

    def _on_frame(self, frame: SampledFrame) -> None:
        # Stands in for the analyzer's queue: keep nothing, only check the decoder scaled as asked.
        height, width = frame.image.shape[:2]
        self.sizes[frame.camera_id] = f"{width}x{height}"

    def start(self) -> None:
        for session, sampler in zip(self.sessions, self.samplers, strict=True):
            session.attach(sampler)
            session.start()

    def counters(self) -> dict[str, dict[str, int]]:
        return {
            s.id: {
                "packets": s.health.packets,
                "decoded": p.decoded,
                "emitted": p.emitted,
                "skipped": p.skipped,
            }
            for s, p in zip(self.sessions, self.samplers, strict=True)
        }

    def notes(self) -> dict[str, str]:
        return {"sample_sizes": ", ".join(sorted(set(self.sizes.values()))) or "none"}


class RemuxScenario(_Sessions):
    """(b) Wall ingest: per-camera fMP4 remux with one viewer, drained every 50 ms (a WebSocket sender)."""

    key = "remux"
    title = "(b) citywall live remux to fMP4, 1 viewer"

    def __init__(self, cameras: Sequence[Camera]) -> None:
        super().__init__(cameras)
        self.viewers = [LiveViewer(max_seconds=VIEWER_BUFFER_S) for _ in self.sessions]
        n = len(self.sessions)
        self._inits, self._fragments, self._bytes = [0] * n, [0] * n, [0] * n
        self._halt = threading.Event()
        self._sender = threading.Thread(target=self._send, name="bench-sender", daemon=True)

    def _send(self) -> None:
        """Take what each viewer has queued and 'send' it (count it), as /ws/live's sender task would."""
        while not self._halt.wait(DRAIN_EVERY_S):
            for i, viewer in enumerate(self.viewers):
                for item in viewer.drain():
                    self._bytes[i] += len(item.data)
                    if isinstance(item, Fragment):
                        self._fragments[i] += 1
                    else:
                        self._inits[i] += 1

    def start(self) -> None:
        for session, viewer in zip(self.sessions, self.viewers, strict=True):
            session.watch(viewer)
            session.start()
        self._sender.start()

    def ready(self) -> bool:
        # Live is not enough here: the viewer must have had its init segment, or nothing is being remuxed yet.
        return super().ready() and all(self._inits)

    def problems(self) -> list[str]:
        waiting = [
            f"{s.id}: no init segment yet" for s, n in zip(self.sessions, self._inits, strict=True) if not n
        ]
        return super().problems() + waiting

    def counters(self) -> dict[str, dict[str, int]]:
        return {
            s.id: {
                "packets": s.health.packets,
                "fragments": self._fragments[i],
                "bytes": self._bytes[i],
                "skips": self.viewers[i].skips,
            }
            for i, s in enumerate(self.sessions)
        }

    def stop(self) -> None:
        self._halt.set()
        self._sender.join(5)
        for session, viewer in zip(self.sessions, self.viewers, strict=True):
            session.unwatch(viewer)
        super().stop()


class BaselineScenario:
    """(c) The naive way: a cv2.VideoCapture per camera, each in its own thread, decoding every frame."""

    key = "baseline"
    title = "(c) baseline cv2.VideoCapture, every frame"

    def __init__(self, cameras: Sequence[Camera]) -> None:
        self.cameras = cameras
        n = len(cameras)
        self._frames = [0] * n
        self._errors: list[str | None] = [None] * n
        self._halt = threading.Event()
        self._threads = [
            threading.Thread(target=self._read, args=(i, cam.url), name=f"baseline-{cam.id}", daemon=True)
            for i, cam in enumerate(cameras)
        ]

    def _read(self, index: int, url: str) -> None:
        capture = cv2.VideoCapture(url, cv2.CAP_FFMPEG)
        try:
            if not capture.isOpened():
                self._errors[index] = "could not open"
                return
            while not self._halt.is_set():
                ok, _image = capture.read()
                if not ok:
                    self._errors[index] = "read failed (stream ended or dropped)"
                    return
                self._frames[index] += 1
        finally:
            capture.release()

    def start(self) -> None:
        # Read by OpenCV when a capture is created; TCP as citywall uses, so both sides get the same packets.
        os.environ["OPENCV_FFMPEG_CAPTURE_OPTIONS"] = "rtsp_transport;tcp"
        for thread in self._threads:
            thread.start()

    def ready(self) -> bool:
        return all(self._frames)

    def problems(self) -> list[str]:
        return [
            f"{cam.id}: {self._errors[i] or 'no frame yet'}"
            for i, cam in enumerate(self.cameras)
            if not self._frames[i] or self._errors[i]
        ]

    def counters(self) -> dict[str, dict[str, int]]:
        return {cam.id: {"frames": self._frames[i]} for i, cam in enumerate(self.cameras)}

    def notes(self) -> dict[str, str]:
        errors = self.problems()
        return {"errors": "; ".join(errors)} if errors else {}

    def stop(self) -> None:
        self._halt.set()
        for thread in self._threads:
            thread.join(10)


# -- the harness --------------------------------------------------------------------------------------------
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


def format_report(report: Report) -> str:
    m = report.machine
    s = report.scenarios
    lines = [
        f"citywall ingest benchmark · {report.date}",
        f"machine: {m['cpu_model']} · {m['cores']} cores ({m['usable_cores']} usable) · {m['system']}",
        f"         Python {m['python']} · PyAV {m['pyav']} (libavcodec {m['pyav_libavcodec']}) · "
        f"OpenCV {m['opencv']} (libavcodec {m['opencv_libavcodec']})",
        f"streams: {report.cameras} cameras, RTSP/TCP from gst-rtsp-server on 127.0.0.1 (server CPU not "
        f"counted); {report.seconds:g} s measured per scenario after {report.warmup:g} s warm-up",
    ]
    for clip in report.clips:
        count = sum(1 for name in report.assignment.values() if name == clip.name)
        lines.append(f"  {clip.name:<34} {clip.label:<42} × {count} cameras")
    lines += [
        "",
        f"{'scenario':<48} {'ms CPU/cam/video-s':>18} {'cores used':>11} {'RSS MiB/cam':>11}",
    ]
    for r in s.values():
        lines.append(
            f"{r.title:<48} {r.ms_cpu_per_camera_video_s:>18.2f} {r.cores_used:>11.3f} "
            f"{r.mb_per_camera:>11.2f}"
        )
    ratio_text = "   ".join(
        f"({'a' if k == 'sampling' else 'b'}) {k}: ×{v:.1f}" for k, v in report.ratios.items()
    )
    lines += ["", f"baseline ÷ citywall (CPU per camera per video-second):   {ratio_text}", ""]

    lines.append("throughput, per camera per second (same streams for all three):")
    lines.append(
        f"  {'clip':<34} {'stream fps':>10} {'(a) packets':>12} {'(b) packets':>12} {'(c) decoded':>12}"
    )
    for clip in report.clips:
        row = report.throughput[clip.name]
        lines.append(
            f"  {clip.name:<34} {row['stream_fps']:>10.2f} {row.get('sampling_packets_per_s', 0):>12.2f} "
            f"{row.get('remux_packets_per_s', 0):>12.2f} {row.get('baseline_frames_per_s', 0):>12.2f}"
        )
    verdict = (
        "OK" if report.throughput_ok else f"WARNING: a scenario took in < {THROUGHPUT_FLOOR:.0%} of the fps"
    )
    lines.append(f"  {verdict}")

    if "sampling" in s:
        lines += [
            "",
            "(a) sampler, per camera per second (decoded ÷ received = share of frames that were decoded):",
        ]
        for clip, row in s["sampling"].per_clip_per_s.items():
            share = row["decoded"] / row["packets"] if row["packets"] else 0.0
            lines.append(
                f"  {clip:<34} received {row['packets']:6.2f}  decoded {row['decoded']:6.2f} "
                f"({share:4.0%})  emitted {row['emitted']:5.2f}"
            )
        lines.append(f"  sampled frame size: {s['sampling'].notes.get('sample_sizes', '?')}")
    if "remux" in s:
        lines += ["", "(b) remux, per camera per second delivered to the viewer:"]
        for clip, row in s["remux"].per_clip_per_s.items():
            lines.append(
                f"  {clip:<34} fragments {row['fragments']:6.2f}  {row['bytes'] * 8 / 1000:7.1f} kbit/s"
            )
        skips = sum(c["skips"] for c in s["remux"].per_camera.values())
        lines.append(f"  viewer skips to the next keyframe (a slow viewer; should be 0): {skips:.0f}")
    lines += ["", "memory (RSS MiB): before → end of window → after stop"]
    for r in s.values():
        lines.append(
            f"  {r.title:<48} {r.rss_before_mb:7.1f} → {r.rss_end_mb:7.1f} → {r.rss_after_stop_mb:7.1f}"
        )
    notes = [f"  {r.key}: {k} = {v}" for r in s.values() for k, v in r.notes.items() if k != "sample_sizes"]
    if notes:
        lines += ["", "notes:", *notes]
    return "\n".join(lines)


def prepare_clips(names: Sequence[str], workdir: Path, needed_s: float) -> tuple[list[Clip], dict[str, Path]]:
    """Probe each clip; make a stream-copied looped copy that outlasts the whole run (mounts do not loop)."""
    clips, copies = [], {}
    for name in names:
        source = MEDIA / name
        if not source.is_file():
            raise FileNotFoundError(
                f"no clip {source} (available: {sorted(p.name for p in MEDIA.glob('*.mp4'))})"
            )
        clip = probe_clip(source)
        loops = max(1, math.ceil(needed_s / max(clip.duration_s, 1.0)))
        copies[name] = looped_copy(source, workdir / f"looped-{loops}x-{name}", (loops + 1) * clip.duration_s)
        clips.append(clip)
    return clips, copies


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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest", description=__doc__.splitlines()[0])
    parser.add_argument("--cameras", type=int, default=8, help="number of cameras (default 8)")
    parser.add_argument(
        "--seconds", type=float, default=20.0, help="measured window per scenario (default 20)"
    )
    parser.add_argument(
        "--warmup", type=float, default=3.0, help="seconds after all cameras are up (default 3)"
    )
    parser.add_argument(
        "--videos",
        nargs="+",
        default=list(DEFAULT_VIDEOS),
        metavar="NAME",
        help=f"clips from {MEDIA}, assigned to cameras in turn",
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the results as JSON")
    args = parser.parse_args(argv)
    if args.cameras < 1 or args.seconds <= 0 or args.warmup < 0:
        parser.error("--cameras must be ≥ 1, --seconds > 0, --warmup ≥ 0")
    missing = why_unavailable()
    if missing:
        print(f"cannot run: {missing}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    report = run(args.cameras, args.seconds, args.warmup, args.videos)
    print(format_report(report), flush=True)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(asdict(report), indent=2, ensure_ascii=False) + "\n")
    return 0 if report.throughput_ok else 1


if __name__ == "__main__":
    sys.exit(main())
