"""Cluster benchmark: what cluster mode (wall/cluster/, Ray) costs and gains against one process, in one run.

Why this exists: issue 12 moves a city's cameras onto a Ray cluster so a site can outgrow one box and survive
the loss of a node. That is only worth it if the cluster costs little per camera, grows with its nodes and
recovers quickly. Everything runs on this machine in one invocation, against the same cameras, so the ratios
hold where the absolute figures do not:

1. **CPU per analysed camera, cluster vs in-process.** The same N cameras (RTSP, every one analysed at 1 look /
   2 s with a whole-frame zone and the site's default detector card), first served by one citywall process
   (``LocalRuntime``), then in cluster mode with one worker node. CPU is read from ``/proc`` (psutil) for this
   process and all its descendants over a fixed window: the control plane (this process: uvicorn in a thread,
   the Ray driver), the camera worker processes, Ray's own daemons (GCS, raylets, agents, idle workers) and
   PostgreSQL — both modes run on the same PostgreSQL, so the store's cost is in both. The RTSP server is not
   counted. The ratio is shown with and without Ray's daemons (issue target: ≤ ×1.15).
2. **Scaling, 1 vs 2 worker nodes.** A full sweep for the largest camera count that keeps up takes one site start
   and window per step and node count, too slow for one run. Instead one fixed camera count (``--scale-cameras``,
   meant to saturate both: one pinned core managed ~21 in a short run on a loaded 2-core machine) runs on one
   worker node, then on two; each camera worker's process (every thread) is pinned to a core of its own, because a
   Ray node's ``num_cpus`` is only bookkeeping on one machine. A saturated run's capacity is its looks per second
   × 2 s (the cameras it could keep up with at 1 look / 2 s); a run that keeps up (every camera ≥ 90 % of its
   looks, ≤ 5 % of sampled frames dropped) has a capacity of at least its camera count. The ratio of the two
   capacities is the scaling (target ≥ ×1.8); it is a lower bound when the two-node run kept up, and not measured
   when the one-node run did. With no third core, the RTSP server, the control plane and Ray's daemons share the
   workers' cores: on a 2-core machine that works against the two-node run.
3. **Live view through the control plane.** Each site of part 1 is measured again with one live view of every
   camera (a WebSocket client per camera, in a process of its own, not counted): the CPU a tile adds over the
   window without viewers — of the control plane alone and of all processes — and the bytes per second each
   tile received. In cluster mode the control plane only relays the worker's fMP4 (one Ray call per batch).
4. **Failover.** On two worker nodes with N cameras: the busiest worker's process killed with SIGKILL (Ray
   restarts it in place; timed until every camera it had is live again), then the busiest worker's node
   removed (``Cluster.remove_node``; timed until every camera it had is owned by another worker and live; the
   node is added back and the cameras rebalance before the next repeat). Median of ``--repeats``.

The cluster is ``ray.cluster_utils.Cluster`` on 127.0.0.1 as tests/test_cluster.py builds it: a head with no CPUs,
worker nodes of one CPU (one camera worker each), every Ray process on loopback
(``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``). The cameras are bench.analytics' 720p street cameras (cached) served by
the real GStreamer RTSP server; each site gets a fresh database on a throwaway PostgreSQL.

The package: infra.py (PostgreSQL, the Ray cluster, process-tree CPU, pinning), harness.py (a site and its
windows, failover), report.py (ratios and table); this module is the command line.

Run from the repository root:
``python -m bench.cluster [--cameras 8] [--scale-cameras 48] [--seconds 30] [--repeats 5] [--json PATH]``
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import importlib.metadata
import json
import logging
import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from bench.clips import DEFAULT_VIDEOS
from bench.cluster.infra import LOOPBACK_ENV

if TYPE_CHECKING:
    from bench.cluster.report import Report

PARTS = ("overhead", "scaling", "failover")
T = TypeVar("T")


def run(args: argparse.Namespace, command: str) -> tuple[Report, int]:
    from bench.analytics.cameras import DEFAULT_CACHE, prepare_clips
    from bench.cluster.harness import Context, failover, run_site
    from bench.cluster.infra import Postgres, RayCluster
    from bench.cluster.report import Report
    from bench.machine import machine_label
    from streams.devserver.rtsp import RtspDevServer

    parts = args.part or list(PARTS)
    mounts = max(args.cameras, args.scale_cameras if "scaling" in parts else 0)
    sites = 2 * ("overhead" in parts) + 2 * ("scaling" in parts)
    needed_s = sites * (120 + 3 * args.warmup + 2 * args.seconds) + args.repeats * 90 * ("failover" in parts) + 300
    report = Report(date=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"), command=command,
                    machine={**machine_label(), "ray": importlib.metadata.version("ray"),
                             "load_average_at_start": round(os.getloadavg()[0], 2)}, clips=[],
                    seconds=args.seconds, warmup=args.warmup)
    failed = 0
    with tempfile.TemporaryDirectory(prefix="citywall-bench-cluster-") as tmp:
        work = Path(tmp)
        prepared = prepare_clips(DEFAULT_VIDEOS, DEFAULT_CACHE, work, needed_s)
        names = list(prepared)
        report.clips = [prepared[n][0].label for n in names]
        pg = Postgres().start()
        rtsp = RtspDevServer({f"m{i}": prepared[names[i % len(names)]][1] for i in range(mounts)}).start()
        ctx = Context(work=work, pg=pg, rtsp=rtsp, cluster=None, seconds=args.seconds, warmup=args.warmup)

        def urls(n: int) -> dict[str, str]:
            return {f"cam{i:02d}": rtsp.url(f"m{i}") for i in range(n)}

        def attempt(what: str, fn: Callable[[], T]) -> T | None:
            nonlocal failed
            try:
                return fn()
            except (RuntimeError, TimeoutError, StopIteration) as exc:
                failed += 1
                report.notes.append(f"{what} failed: {exc}")
                print(f"  {what} failed: {exc}", file=sys.stderr, flush=True)
                return None

        try:
            if "overhead" in parts:  # before Ray starts: the in-process site runs with no Ray daemon beside it
                report.inprocess = attempt("in-process", lambda: run_site(ctx, "inprocess", urls(args.cameras)))
            ctx.cluster = RayCluster(1 if {"overhead", "scaling"} & set(parts) else 2)
            if "overhead" in parts:
                report.cluster = attempt("cluster", lambda: run_site(
                    ctx, "cluster", urls(args.cameras), namespace="bench-overhead", worker_nodes=1))
            for nodes in (1, 2) if "scaling" in parts else ():
                while len(ctx.cluster.worker_nodes()) < nodes:
                    ctx.cluster.add_node()
                got = attempt(f"scaling on {nodes} node(s)", functools.partial(
                    run_site, ctx, f"scale{nodes}", urls(args.scale_cameras), namespace=f"bench-scale{nodes}",
                    worker_nodes=nodes, live=False, pin_nodes=True))
                if got is not None:
                    report.scale[nodes] = got
            if "failover" in parts:
                while len(ctx.cluster.worker_nodes()) < 2:
                    ctx.cluster.add_node()
                report.failover = attempt("failover", lambda: failover(ctx, urls(args.cameras), args.repeats))
        finally:
            report.machine["load_average_at_end"] = round(os.getloadavg()[0], 2)
            if ctx.cluster is not None:
                ctx.cluster.shutdown()
            rtsp.stop()
            pg.stop()
    return report, failed


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cluster", description=__doc__.splitlines()[0])
    parser.add_argument("--cameras", type=int, default=8,
                        help="cameras of the overhead, live-view and failover parts (default 8)")
    parser.add_argument("--scale-cameras", type=int, default=48,
                        help="cameras of the scaling part, enough to saturate two cores (default 48)")
    parser.add_argument("--seconds", type=float, default=30.0, help="measured window (default 30)")
    parser.add_argument("--warmup", type=float, default=10.0, help="seconds before each window (default 10)")
    parser.add_argument("--repeats", type=int, default=5, help="failovers of each kind; the median is shown (5)")
    parser.add_argument("--part", choices=PARTS, action="append",
                        help="run only this part (repeatable; overhead includes the live view)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the results as JSON")
    args = parser.parse_args(argv)
    if min(args.cameras, args.scale_cameras, args.repeats) < 1 or args.seconds <= 0 or args.warmup < 0:
        parser.error("--cameras, --scale-cameras and --repeats must be ≥ 1, --seconds > 0, --warmup ≥ 0")
    from streams.devserver.rtsp import why_unavailable

    missing = why_unavailable()
    try:
        importlib.metadata.version("ray")
    except importlib.metadata.PackageNotFoundError:
        missing = missing or "Ray is not installed (the 'scale' extra)"
    if missing:
        print(f"cannot run: {missing}", file=sys.stderr)
        return 2
    if "ray" in sys.modules and os.environ.get("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER") != "0":
        print("cannot run: Ray was imported before RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 was set", file=sys.stderr)
        return 2
    os.environ.update(LOOPBACK_ENV)  # before Ray is imported: every Ray process started from here inherits it
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    command = "python -m bench.cluster " + " ".join(argv if argv is not None else sys.argv[1:])
    report, failed = run(args, command.strip())
    from bench.cluster.report import format_report, ratios

    print(format_report(report), flush=True)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        data = {**asdict(report), "ratios": ratios(report)}
        args.json.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    return 1 if failed else 0
