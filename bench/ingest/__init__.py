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

The package: scenarios.py holds the three ways of ingesting, harness.py measures them one after the other,
report.py prints the table; this module is the command line.

Run from the repository root:  ``python -m bench.ingest [--cameras 8] [--seconds 20] [--json PATH]``
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from bench.clips import DEFAULT_VIDEOS
from bench.ingest.harness import run
from bench.ingest.report import format_report
from streams.devserver.rtsp import why_unavailable
from wall.demo import MEDIA


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
