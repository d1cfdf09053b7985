"""The cluster benchmark's runs: one site (in-process or on the Ray cluster), its measured windows, pinning and
the failover repeats. ``bench.cluster.run`` sequences them; everything here measures one thing at a time.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.cluster.infra import Postgres, RayCluster, cpu_by_group, descendants, pin, rss_by_group, tree_sample
from bench.wall import Site
from streams.devserver.rtsp import RtspDevServer

INTERVAL_S = 2.0  # CameraConfig.analysis_interval's default: 1 look / 2 s
KEEP_UP_FLOOR = 0.9  # as bench.analytics: a camera given < 90 % of its looks falls behind
DROP_CEILING = 0.05  # ... or > 5 % of sampled frames replaced before the detector took them
# Every camera analysed: one whole-frame road-occupation zone for cars and people (as bench.analytics), with the
# site's default detector card (the bundled YOLOX-Nano): what a site runs when analytics.yaml names no model.
ZONE = "{id: street, family: road_occupation, classes: [car, person], polygon: [[0, 0], [1, 0], [1, 1], [0, 1]]}"


@dataclass
class Context:
    work: Path
    pg: Postgres
    rtsp: RtspDevServer
    cluster: RayCluster | None
    seconds: float
    warmup: float
    ready_timeout: float = 180.0

    def excluded(self) -> set[int]:
        return {self.rtsp.proc.pid} if self.rtsp.proc is not None else set()


@dataclass
class Window:
    """One measured window of a running site (counts are differences over the window)."""

    seconds: float
    cpu_s: dict[str, float]  # by process group (infra.GROUPS)
    rss_mb: dict[str, float]
    looks_per_s: float  # frames analysed per second, all cameras together
    worst_look_share: float  # the slowest camera's sampled looks as a share of those due (1 / INTERVAL_S)
    frames_in: int
    dropped: int
    reconnects: int
    tiles: int = 0  # live views open during the window
    bytes_per_s: float = 0.0  # what the viewers received

    @property
    def cpu_total_s(self) -> float:
        return sum(self.cpu_s.values())

    def keeps_up(self) -> tuple[bool, str]:
        reasons = []
        if self.worst_look_share < KEEP_UP_FLOOR:
            reasons.append(f"slowest camera got {self.worst_look_share:.0%} of its looks")
        if self.frames_in and self.dropped > DROP_CEILING * self.frames_in:
            reasons.append(f"{self.dropped} of {self.frames_in} sampled frames dropped")
        if self.reconnects:
            reasons.append(f"{self.reconnects} reconnects")
        return not reasons, "; ".join(reasons) or "ok"


@dataclass
class SiteRun:
    mode: str  # "in-process", "cluster"
    cameras: int
    worker_nodes: int  # 0: in-process
    pinned: str  # "" or how the workers were pinned
    ready_s: float  # site start → every camera live and analysed
    idle: Window  # no live viewer
    live: Window | None = None  # the same site with one live view per camera
    workers: dict[str, int] = field(default_factory=dict)  # worker → cameras it ran


@dataclass
class Failover:
    cameras: int
    worker_kill_s: list[float | None] = field(default_factory=list)  # SIGKILL → the worker's cameras live again
    node_loss_s: list[float | None] = field(default_factory=list)  # remove_node → cameras owned elsewhere, live
    notes: list[str] = field(default_factory=list)


# -- a site --------------------------------------------------------------------------------------------------------
def start_site(ctx: Context, name: str, urls: dict[str, str], namespace: str | None) -> Site:
    """A citywall site for ``urls`` (every camera analysed) on a fresh PostgreSQL database, in this process;
    ``namespace``: in cluster mode on the run's Ray cluster (``cluster:`` in server.yaml), else in-process."""
    directory = ctx.work / name
    directory.mkdir()
    (directory / "analytics.yaml").write_text(
        "cameras:\n" + "".join(f"  {cid}:\n    zones:\n      - {ZONE}\n" for cid in urls), encoding="utf-8")
    server = f'  database_url: "{ctx.pg.database(name.replace("-", "_"))}"\n'
    if namespace is not None:
        assert ctx.cluster is not None
        server += f'cluster: {{address: "{ctx.cluster.address}", namespace: {namespace}}}\n'
    return Site(directory, urls, server)


def _emitted(status: Any) -> int:
    return status.sampler.emitted if status.sampler is not None else 0


def wait_until(check: Callable[[], bool], timeout: float, period: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(period)
    return check()


def all_live(runtime: Any, ids: list[str]) -> bool:
    statuses = {s.id: s for s in runtime.camera_statuses_now()}
    return all(cid in statuses and statuses[cid].health.state == "live" for cid in ids)


def wait_ready(site: Site, ids: list[str], timeout: float) -> float:
    """Seconds until every camera is live and has been sampled for analysis, and the detector has run."""
    runtime, t0 = site.app.state.services.runtime, time.monotonic()

    def ready() -> bool:
        statuses = {s.id: s for s in runtime.camera_statuses_now()}
        counters = runtime.analytics_counters()
        return (all(cid in statuses and statuses[cid].health.state == "live" and _emitted(statuses[cid]) > 0
                    for cid in ids) and counters is not None and counters.pipeline.frames_analysed > 0)

    if not wait_until(ready, timeout, 0.5):
        states = {s.id: s.health.state for s in runtime.camera_statuses_now()}
        raise RuntimeError(f"not every camera was live and analysed within {timeout:.0f} s: {states}")
    return time.monotonic() - t0


def _counts(runtime: Any) -> tuple[int, int, int, dict[str, int], dict[str, int]]:
    counters = runtime.analytics_counters()
    statuses = runtime.camera_statuses_now()
    p = counters.pipeline if counters is not None else None
    return (p.frames_analysed if p else 0, p.frames_in if p else 0, p.frames_dropped if p else 0,
            {s.id: _emitted(s) for s in statuses}, {s.id: s.health.reconnects for s in statuses})


def measure(ctx: Context, site: Site, ids: list[str], excluded: set[int]) -> Window:
    """CPU of every process involved (this one, Ray's, PostgreSQL; not the RTSP server nor the viewers) and the
    analysis counters over one window of ``ctx.seconds``. In cluster mode the counters are the workers' last
    reports (one a second), so both ends of the window lag by the same ≤ 1 s."""
    runtime = site.app.state.services.runtime
    skip = ctx.excluded() | excluded
    first, c0, t0 = tree_sample(skip), _counts(runtime), time.monotonic()
    time.sleep(ctx.seconds)
    last, c1, wall = tree_sample(skip), _counts(runtime), time.monotonic() - t0
    due = wall / INTERVAL_S
    return Window(seconds=round(wall, 2), cpu_s=cpu_by_group(first, last), rss_mb=rss_by_group(last),
                  looks_per_s=round((c1[0] - c0[0]) / wall, 3),
                  worst_look_share=round(min((c1[3].get(i, 0) - c0[3].get(i, 0)) / due for i in ids), 3),
                  frames_in=c1[1] - c0[1], dropped=c1[2] - c0[2],
                  reconnects=sum(c1[4].get(i, 0) - c0[4].get(i, 0) for i in ids))


def measure_live(ctx: Context, site: Site, ids: list[str]) -> Window:
    """The same window with one live view of every camera, drained by a client process of its own (bench.wall's
    viewers worker); its bytes over its whole life give the rate proxied to the viewers."""
    from wall.auth.sessions import COOKIE

    lifetime = ctx.warmup + ctx.seconds + 1
    viewer = subprocess.Popen([sys.executable, "-m", "bench.wall", "--viewers-worker",
                               site.url.replace("http://", "ws://"), f"{COOKIE}={site.token}", str(lifetime), *ids],
                              stdout=subprocess.PIPE, text=True)
    time.sleep(ctx.warmup)
    window = measure(ctx, site, ids, {viewer.pid})
    out, _ = viewer.communicate(timeout=lifetime + 60)
    window.tiles, window.bytes_per_s = len(ids), round(int(out.strip() or 0) / lifetime, 1)
    return window


def workers_owning(runtime: Any) -> dict[str, int]:
    return {slot.key: len(slot.report.owned) for slot in runtime.pool.slots()
            if slot.report is not None and slot.report.owned}


def pin_workers(ctx: Context, runtime: Any) -> str:
    """Each camera worker onto one core of its own (a Ray node's num_cpus is only bookkeeping: on one machine
    nothing else holds a node to its CPU). With cores to spare, everything else goes to the other cores."""
    usable = sorted(os.sched_getaffinity(0))
    slots = sorted((s for s in runtime.pool.slots() if s.report is not None), key=lambda s: s.key)
    for i, slot in enumerate(slots):
        pin(slot.report.pid, {usable[i % len(usable)]})
    rest = set(usable[len(slots):])
    if rest:
        for pid in {os.getpid(), *ctx.excluded(), *_tree_pids(exclude={s.report.pid for s in slots})}:
            pin(pid, rest)
        return f"worker i on core i; the rest on cores {sorted(rest)}"
    return "worker i on core i; the RTSP server, control plane and Ray's daemons unpinned (no core to spare)"


def unpin_all() -> None:
    usable = set(range(os.cpu_count() or 1))
    for pid in {os.getpid(), *_tree_pids(set())}:
        pin(pid, usable)


def _tree_pids(exclude: set[int]) -> set[int]:
    return descendants(os.getpid()) - exclude


def run_site(ctx: Context, name: str, urls: dict[str, str], *, namespace: str | None = None, worker_nodes: int = 0,
             live: bool = True, pin_nodes: bool = False) -> SiteRun:
    """Start a site, wait until every camera is analysed (and, in cluster mode, every worker node runs
    cameras), warm up, measure a window without viewers and (``live``) one with a viewer per camera."""
    ids = list(urls)
    print(f"  {name}: {len(ids)} cameras {'on ' + str(worker_nodes) + ' worker node(s)' if namespace else ''}…",
          file=sys.stderr, flush=True)
    started = time.monotonic()
    site = start_site(ctx, name, urls, namespace)
    try:
        wait_ready(site, ids, ctx.ready_timeout)
        runtime = site.app.state.services.runtime
        if namespace is not None and not wait_until(lambda: len(workers_owning(runtime)) >= worker_nodes, 60):
            raise RuntimeError(f"{name}: cameras on {workers_owning(runtime)}, expected {worker_nodes} workers")
        ready_s = time.monotonic() - started
        pinned = pin_workers(ctx, runtime) if pin_nodes else ""
        time.sleep(ctx.warmup)
        run = SiteRun(mode="cluster" if namespace else "in-process", cameras=len(ids), worker_nodes=worker_nodes,
                      pinned=pinned, ready_s=round(ready_s, 1), idle=measure(ctx, site, ids, set()))
        if live:
            run.live = measure_live(ctx, site, ids)
        if namespace is not None:
            run.workers = workers_owning(runtime)
        return run
    finally:
        site.close()
        if pin_nodes:
            unpin_all()
        if ctx.cluster is not None:
            ctx.cluster.kill_workers()


# -- failover ------------------------------------------------------------------------------------------------------
def failover(ctx: Context, urls: dict[str, str], repeats: int) -> Failover:
    """On the two-node cluster: ``repeats`` × SIGKILL of the busiest worker's process (Ray restarts it in place;
    timed until every camera it had is live again on it), then ``repeats`` × removal of the busiest worker's
    node (timed until every camera it had is owned by another worker and live; the node is then added back and
    the cameras rebalance before the next repeat)."""
    assert ctx.cluster is not None
    cluster, ids = ctx.cluster, list(urls)
    result = Failover(cameras=len(ids))
    print(f"  failover: {len(ids)} cameras on 2 worker nodes, {repeats} repeats each…", file=sys.stderr, flush=True)
    site = start_site(ctx, "failover", urls, "bench-failover")
    runtime = site.app.state.services.runtime

    def settled() -> bool:
        return len(workers_owning(runtime)) == 2 and all_live(runtime, ids)

    try:
        wait_ready(site, ids, ctx.ready_timeout)
        for n in range(repeats):
            if not wait_until(settled, 120):
                result.notes.append(f"kill {n + 1}: not settled before the kill ({workers_owning(runtime)})")
            victim = max((s for s in runtime.pool.slots() if s.report is not None), key=lambda s: len(s.report.owned))
            pid, cams = victim.report.pid, sorted(victim.report.owned)

            def back(key: str = victim.key, pid: int = pid, cams: list[str] = cams) -> bool:
                slot = runtime.pool.slot(key)
                return (slot is not None and slot.report is not None and slot.report.pid != pid
                        and sorted(slot.report.owned) == cams and all_live(runtime, cams))

            os.kill(pid, signal.SIGKILL)
            killed = time.monotonic()
            result.worker_kill_s.append(round(time.monotonic() - killed, 2) if wait_until(back, 90, 0.1) else None)
            print(f"    worker kill {n + 1}: {result.worker_kill_s[-1]} s", file=sys.stderr, flush=True)
        for n in range(repeats):
            if not wait_until(settled, 180):
                result.notes.append(f"node loss {n + 1}: not settled before the loss ({workers_owning(runtime)})")
            victim = max((s for s in runtime.pool.slots() if s.report is not None), key=lambda s: len(s.report.owned))
            cams = sorted(victim.report.owned)
            node = next(n for n in cluster.worker_nodes() if n.node_id == victim.node_id)

            def moved(key: str = victim.key, cams: list[str] = cams) -> bool:
                owners = [runtime.scheduler.owner(cam) for cam in cams]
                return all(o is not None and o.worker != key for o in owners) and all_live(runtime, cams)

            cluster.remove_node(node)
            lost = time.monotonic()
            result.node_loss_s.append(round(time.monotonic() - lost, 2) if wait_until(moved, 120, 0.1) else None)
            print(f"    node loss {n + 1}: {result.node_loss_s[-1]} s", file=sys.stderr, flush=True)
            cluster.add_node()  # back to two worker nodes: the cameras rebalance onto the new one
    finally:
        site.close()
        cluster.kill_workers()
    return result
