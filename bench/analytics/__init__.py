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

Two more runs on the same cameras measure what the camera threads are bounded by (issue 17): the floor
(floor_worker.py: a bare demux loop, one keyframe decode and scale per look, nothing else) and citywall with one
live view per camera (the fMP4 remux in the camera thread, drained by a fast client): camera threads ÷ floor is
what the service adds to receiving and looking, and the live run's difference is the live path's cost.

Then citywall alone is run with more and more cameras to find the largest number this machine keeps up with.

The demo clips are busy (cars drive through, people come and go, the lobby camera is hand-held), which is the
worst case for the change gate. ``--still`` makes every camera a still of its clip's first picture with temporal
noise, as a sensor adds, at the same size, rate, GOP and bitrate: a quiet street, the gate's best case. A real
site lies in between; the two runs bound it.

The package: cameras.py makes the 720p cameras, citywall_worker.py and ultralytics_worker.py are the two sides
(result.py what they report, window.py their CPU accounting), harness.py runs them and the sweep, report.py
prints the table; this module is the command line, for the harness's workers too.

Run from the repository root:
``python -m bench.analytics [--cameras 4] [--seconds 30] [--max-n 40] [--still] [--json PATH]``

``--cards`` runs cards.py instead: the detector cards side by side (FP32 YOLOX-Nano, dynamic-INT8 YOLO11n, the
static-INT8 QDQ YOLOX-Nano of ``citywall model quantize``), ms CPU per look and whether the events stay the same.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import logging
import sys
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from bench.analytics.cameras import DEFAULT_CACHE
from bench.analytics.citywall_worker import citywall_worker
from bench.analytics.floor_worker import floor_worker
from bench.analytics.harness import run
from bench.analytics.report import format_report
from bench.analytics.result import RESULT_PREFIX, Camera
from bench.analytics.ultralytics_worker import ultralytics_worker
from bench.clips import DEFAULT_VIDEOS
from streams.devserver.rtsp import why_unavailable
from wall.demo import MEDIA


def worker_main(args: argparse.Namespace) -> int:
    """``--worker SIDE``: measure one side and print its result as one JSON line (the harness reads it)."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    cameras = [Camera(id=i, clip=c, url=u) for i, c, u in (spec.split("=", 2) for spec in args.specs)]
    if args.worker == "citywall":
        result = citywall_worker(cameras, args.seconds, args.warmup, args.server_pid, gate=not args.no_gate,
                                 live=args.live)
    elif args.worker == "floor":
        result = floor_worker(cameras, args.seconds, args.warmup, args.server_pid)
    else:
        result = ultralytics_worker(cameras, args.seconds, args.warmup, args.server_pid, args.model,
                                    args.vid_stride, args.workdir)
    print(RESULT_PREFIX + json.dumps(asdict(result)), flush=True)
    return 0


def cards_main(args: argparse.Namespace) -> int:
    """``--cards``: the card table (bench/analytics/cards.py); exit 1 when a quantised card's events differ."""
    from bench.analytics.cards import format_cards, run_cards

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.looks < 1:
        print("--looks must be ≥ 1", file=sys.stderr)
        return 2
    report = run_cards(args.looks, args.quantized)
    print(format_cards(report), flush=True)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(asdict(report), indent=2, ensure_ascii=False) + "\n")
    return 0 if all(r.same_events for r in report.rows) else 1


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
    parser.add_argument("--cards", action="store_true",
                        help="instead: the detector cards side by side (FP32, dynamic INT8, static INT8 QDQ): ms CPU "
                             "per look and whether the events stay the same (bench/analytics/cards.py)")
    parser.add_argument("--looks", type=int, default=200, help="with --cards: looks timed per card (default 200)")
    parser.add_argument("--quantized", type=Path, metavar="CARD",
                        help="with --cards: this static-INT8 card instead of quantising one in the run")
    # Internal: the harness starts each side as `--worker SIDE ... ID=CLIP=URL ...`.
    parser.add_argument("--worker", choices=("citywall", "floor", "ultralytics"), help=argparse.SUPPRESS)
    parser.add_argument("--server-pid", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--model", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--vid-stride", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--no-gate", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--live", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("specs", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker_main(args)
    if args.cards:
        return cards_main(args)
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
        for key in ("citywall", "floor", "citywall_live", "citywall_nogate", "baseline"):
            if data[key] is not None:  # the JSON also gets the figure the table is about
                data[key]["cpu_s_per_camera_minute"] = getattr(report, key).cpu_s_per_camera_minute
        for row, r in zip(data["scaling"], report.scaling, strict=True):
            row["cpu_s_per_camera_minute"] = r.cpu_s_per_camera_minute
            row["keeps_up"] = r.keeps_up()[0]
        args.json.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    both_keep_up = report.citywall.keeps_up()[0] and report.baseline is not None and report.baseline.keeps_up()[0]
    return 0 if both_keep_up else 1
