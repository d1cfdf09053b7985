"""The analytics benchmark's harness: one RTSP server, each side in its own worker subprocess, then the sweep.

Workers run one after the other, never together, so each one's CPU time is its own; the harness only starts
them, reads back their result lines and puts the comparison and citywall's scaling sweep into one Report.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.analytics.cameras import prepare_clips
from bench.analytics.result import CARD, INTERVAL_S, READY_TIMEOUT_S, RESULT_PREFIX, Camera, SideResult
from bench.clips import Clip
from bench.machine import machine_label
from streams.devserver.rtsp import RtspDevServer
from vision.card import MODEL_PATH_ENV, load_card

REPO = Path(__file__).resolve().parents[2]
# CARD's AGPL weights are not in the repository: found through $CITYWALL_MODEL_PATH (vision/card.py), by default in
# ../shared/data/models beside the checkout, where CI keeps them (as for the tests, tests/conftest.py).
SHARED_MODELS = REPO.parent / "shared" / "data" / "models"
SWEEP_LADDER = (4, 8, 16, 24, 32, 40, 48, 64, 96, 128)


@dataclass(frozen=True)
class RunSpec:
    """What every worker of one benchmark run shares."""

    seconds: float
    warmup: float
    server_pid: int | None
    workdir: Path
    model_path: Path
    vid_stride: int


def run_side(side: str, cameras: Sequence[Camera], spec: RunSpec, gate: bool = True, live: bool = False) -> SideResult:
    """Run one worker subprocess and read back its result line (everything else it prints is passed on)."""
    cmd = [sys.executable, "-m", "bench.analytics", "--worker", side, "--seconds", str(spec.seconds),
           "--warmup", str(spec.warmup), "--model", str(spec.model_path), "--vid-stride", str(spec.vid_stride),
           "--workdir", str(spec.workdir)]
    if spec.server_pid is not None:
        cmd += ["--server-pid", str(spec.server_pid)]
    if not gate:
        cmd += ["--no-gate"]
    if live:
        cmd += ["--live"]
    cmd += [f"{c.id}={c.clip}={c.url}" for c in cameras]
    env = dict(os.environ)
    env["OPENCV_FFMPEG_CAPTURE_OPTIONS"] = "rtsp_transport;tcp"  # OpenCV's default is UDP; citywall uses TCP
    if side == "ultralytics":
        env["YOLO_OFFLINE"] = "1"
        env["YOLO_CONFIG_DIR"] = str(spec.workdir / "ultralytics-config")
    label = f"{side} {'' if gate else 'with the change gate off '}{'with a live view per camera ' if live else ''}"
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
    floor: SideResult  # the camera threads' floor on the same cameras (bench/analytics/floor_worker.py)
    citywall_live: SideResult  # (a) with one live view per camera: the remux's cost, in the same run
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
    runs = 5 + len(ladder)
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
            floor = run_side("floor", cams[:cameras_n], spec)
            citywall_live = run_side("citywall", cams[:cameras_n], spec, live=True)
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
        floor=floor,
        citywall_live=citywall_live,
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
