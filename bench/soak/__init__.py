"""Soak: a whole site under a hall's load for half an hour, with camera faults; does anything grow or get lost?

Why this exists: the other benchmarks measure one thing for seconds. A command hall runs for months, and what
breaks it is slow: memory that grows a little per camera reconnect, a thread or a socket left behind by every
fault, a case lost or raised twice when a camera drops mid-event. This run puts everything on at once and
watches the app's process for that (issue 16). It is a benchmark, not a test: it prints a verdict per criterion
and exits 1 when one fails, but never runs in the suite.

The site, all real: 16 cameras over RTSP (streams/devserver's GStreamer server, one server process per camera so
that one can fail alone), looped 768x432 demo clips (the lobby clip, whose lingering visitors raise street-stall
cases, and the parking-lot clip), every camera analysed by the bundled default model; ``citywall serve`` in a
process of its own with its accounts made by its own CLI (an admin, an operator, four display seats).

- **Viewers**: 4 seats x 18 tiles = 72 ``/ws/live`` sockets, drained as fast as they come and reopened when they
  end, as a tile does (bench/fanout.py's viewer, in two processes of their own).
- **Operator**: a scripted operator reads the desk's queue every 15 s and confirms or rejects each pending case
  through the REST API, in turn.
- **Faults**: every 3 minutes one camera's RTSP server is killed, stopped or frozen (kill, stop, freeze in turn)
  for 30 s, then brought back on the same address.
- **Samples every 10 s** of the app's process (from /proc): resident memory, threads, open file descriptors; and
  the p50/p95 of ``GET /api/cameras`` asked every 100 ms by a prober process, the cameras live, the viewers
  the app counts, the cases. Written as ``samples.csv`` and ``soak.png`` (and ``faults.csv``) under ``--out``.

Pass when: RSS grows < 5 % from the first minute of samples after the first 5 minutes (start-up, caches, the
thread pool filling) to the last minute; threads and file descriptors are back to their level before each fault
(the median of the minute from 60 s after the camera returns against that of the minute before the fault,
threads counted without the server's request pool — its size from /metrics — so that the pool swelling with the
load is not taken for a leak: within 2 threads and 6 descriptors,
and no drift beyond that from the first fault to the last) and every faulted camera is live again; every event the
analytics opened became exactly one case (a case of its own or a ``seen again`` on the
open case at its place), no two cases share an event, and every case the operator decided is still in the state
it decided (and audited once).

This is about stability, not throughput: the machine this was written on has 2 shared cores, so the cameras are
analysed at the cheapest settings that still raise cases (one look per 3 s on the lobby clip's 1 s GOP, one per
5 s on the lot clip's 4.8 s GOP: keyframes only, no other frame decoded) and the clips are small. The API
latency figures are the ones of a loaded machine.

Run from the repository root: ``python -m bench.soak [--minutes 30] [--out DIR]``; outputs default to a new
directory under $CITYWALL_ARTIFACTS (or ./artifacts), ``soak-<UTC time>``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from bench.machine import machine_label
from bench.soak.load import probe_worker, viewers_worker
from bench.soak.report import (
    case_verdict,
    fault_verdict,
    judge_faults,
    rss_verdict,
    write_csv,
    write_faults_csv,
    write_png,
)
from bench.soak.run import JUDGED_S, Options, soak
from bench.soak.site import log_problems
from streams.devserver.rtsp import why_unavailable


def default_out() -> Path:
    root = Path(os.environ.get("CITYWALL_ARTIFACTS") or "artifacts")
    return root / f"soak-{dt.datetime.now(dt.UTC).strftime('%Y%m%dT%H%M%SZ')}"


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--viewers-worker"]:
        return viewers_worker(argv[1:])
    if argv[:1] == ["--probe-worker"]:
        return probe_worker(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0, help="how long the load runs (default 30)")
    parser.add_argument("--cameras", type=int, default=16, help="RTSP cameras, all analysed (default 16)")
    parser.add_argument("--tiles", type=int, default=18, help="tiles per seat (default 18: a 3x6 wall)")
    parser.add_argument("--seats", type=int, default=4, help="seats (viewer sessions) watching the wall (default 4)")
    parser.add_argument("--fault-every", type=float, default=3.0, help="minutes between camera faults (default 3)")
    parser.add_argument("--fault-seconds", type=float, default=30.0, help="how long a camera is down (default 30)")
    parser.add_argument("--settle", type=float, default=60.0,
                        help="seconds after the camera is back before threads and fds are read again (default 60)")
    parser.add_argument("--warm-minutes", type=float, default=5.0,
                        help="RSS growth is judged from this minute on (default 5)")
    parser.add_argument("--out", type=Path, help="output directory (default $CITYWALL_ARTIFACTS/soak-<time>)")
    args = parser.parse_args(argv)
    if args.minutes <= 0 or args.cameras < 1 or args.tiles < 1 or args.seats < 1:
        parser.error("--minutes must be > 0; --cameras, --tiles and --seats at least 1")
    missing = why_unavailable()
    if missing:
        print(f"bench.soak needs {missing}", file=sys.stderr)
        return 2
    out: Path = args.out or default_out()
    out.mkdir(parents=True, exist_ok=True)
    started = dt.datetime.now(dt.UTC)
    load_before = os.getloadavg()
    opts = Options(args.minutes, args.cameras, args.tiles, args.seats, args.fault_every * 60, args.fault_seconds,
                   args.settle, args.warm_minutes * 60, out)
    outcome = soak(opts)
    load_after = os.getloadavg()
    judge_faults(outcome.faults, outcome.samples, opts.settle_s, JUDGED_S)
    verdicts = [rss_verdict(outcome.samples, opts.warm_s), fault_verdict(outcome.faults), case_verdict(outcome.cases)]
    problems = log_problems(out / "server.log")
    machine = machine_label()
    write_csv(out / "samples.csv", outcome.samples)
    write_faults_csv(out / "faults.csv", outcome.faults)
    title = (f"citywall soak {started:%Y-%m-%d %H:%M} UTC, {outcome.ran_s / 60:.1f} min, {args.cameras} cameras, "
             f"{args.seats * args.tiles} viewers, {machine['usable_cores']} cores")
    write_png(out / "soak.png", outcome.samples, outcome.faults, title)
    p95s = [s.api_p95_ms for s in outcome.samples if s.api_n]
    summary = {
        "started_utc": started.isoformat(timespec="seconds"), "ran_minutes": round(outcome.ran_s / 60, 2),
        "machine": machine, "loadavg_before": load_before, "loadavg_after": load_after, "options": vars(args) | {
            "out": str(out)}, "verdicts": [asdict(v) for v in verdicts], "cases": asdict(outcome.cases),
        "viewers": asdict(outcome.viewers), "operator_refused": outcome.operator_refused,
        "soak_errors": outcome.errors,
        "faults": [asdict(f) for f in outcome.faults], "server_exit_code": outcome.exit_code,
        "server_log_problems": problems[:200], "api_p95_ms_median": sorted(p95s)[len(p95s) // 2] if p95s else None,
        "api_p95_ms_max": max(p95s, default=None), "api_failed": sum(s.api_failed for s in outcome.samples),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False, default=str) + "\n")
    print(f"\nmachine: {machine['cpu_model']}, {machine['usable_cores']} usable cores, {machine['system']}; load "
          f"average {load_before[0]:.1f} at the start, {load_after[0]:.1f} at the end")
    print(f"ran {outcome.ran_s / 60:.1f} min from {started:%Y-%m-%d %H:%M} UTC; {len(outcome.faults)} faults; "
          f"API p95 per 10 s: median {summary['api_p95_ms_median'] or float('nan'):.0f} ms, max "
          f"{summary['api_p95_ms_max'] or float('nan'):.0f} ms, {summary['api_failed']} failed requests")
    print(f"viewers: {outcome.viewers.sockets} sockets got video, {outcome.viewers.ended} ended and reopened, "
          f"{outcome.viewers.bytes / 1e6 / max(outcome.ran_s, 1):.2f} MB/s; server log: {len(problems)} warnings or "
          f"errors; operator refused {len(outcome.operator_refused)} times; {len(outcome.errors)} of the soak's own "
          f"API calls failed")
    for v in verdicts:
        print(f"{'PASS' if v.passed else 'FAIL'}  {v.name}: {v.detail}")
    print(f"figures in {out} (samples.csv, faults.csv, soak.png, summary.json, server.log)")
    return 0 if all(v.passed for v in verdicts) else 1
