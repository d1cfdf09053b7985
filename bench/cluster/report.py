"""The cluster benchmark's report: the runs of one invocation, the ratios between them, and the printed table."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from bench.cluster.harness import INTERVAL_S, Failover, SiteRun, Window


@dataclass
class Report:
    date: str
    command: str
    machine: dict[str, object]
    clips: list[str]
    seconds: float
    warmup: float
    inprocess: SiteRun | None = None
    cluster: SiteRun | None = None  # the same cameras on one worker node
    scale: dict[int, SiteRun] = field(default_factory=dict)  # worker nodes → the scaling run
    failover: Failover | None = None
    notes: list[str] = field(default_factory=list)


def cores_per_camera(w: Window, cameras: int, without: tuple[str, ...] = ()) -> float:
    return sum(v for k, v in w.cpu_s.items() if k not in without) / w.seconds / cameras


def overhead(report: Report, without: tuple[str, ...] = ()) -> float | None:
    """CPU per analysed camera, cluster mode ÷ in-process (issue 12: ≤ 1.15)."""
    if report.inprocess is None or report.cluster is None:
        return None
    base = cores_per_camera(report.inprocess.idle, report.inprocess.cameras, without)
    return cores_per_camera(report.cluster.idle, report.cluster.cameras, without) / base if base else None


def per_tile(run: SiteRun, groups: tuple[str, ...] | None = None) -> float | None:
    """Cores a live tile adds (window with a viewer per camera − window without), of ``groups`` (None: all)."""
    if run.live is None or not run.live.tiles:
        return None

    def rate(w: Window) -> float:
        return sum(v for k, v in w.cpu_s.items() if groups is None or k in groups) / w.seconds

    return (rate(run.live) - rate(run.idle)) / run.live.tiles


def capacity(run: SiteRun) -> tuple[float, bool]:
    """Cameras this run's workers keep up with at 1 look / INTERVAL_S: its camera count when it kept up (a lower
    bound), else the looks it managed per second × INTERVAL_S (it was saturated)."""
    ok, _ = run.idle.keeps_up()
    return (float(run.cameras), True) if ok else (run.idle.looks_per_s * INTERVAL_S, False)


def scaling(report: Report) -> tuple[float, bool] | None:
    """2 worker nodes ÷ 1 (issue 12: ≥ 1.8); True when that is only a lower bound (the 2-node run kept up)."""
    if 1 not in report.scale or 2 not in report.scale:
        return None
    one, two = capacity(report.scale[1]), capacity(report.scale[2])
    return (two[0] / one[0], two[1]) if one[0] else None


def median(values: list[float | None]) -> float | None:
    got = [v for v in values if v is not None]
    return statistics.median(got) if got else None


def ratios(report: Report) -> dict[str, float | bool | None]:
    """The figures the table is about, for the JSON file."""
    scaled = scaling(report)
    one_kept_up = 1 in report.scale and capacity(report.scale[1])[1]
    f = report.failover
    return {
        "overhead": overhead(report), "overhead_without_ray_daemons": overhead(report, ("ray daemons",)),
        "live_control_plane_cores_per_tile_inprocess": per_tile(report.inprocess, ("control plane",))
        if report.inprocess else None,
        "live_control_plane_cores_per_tile_cluster": per_tile(report.cluster, ("control plane",))
        if report.cluster else None,
        "live_all_cores_per_tile_inprocess": per_tile(report.inprocess) if report.inprocess else None,
        "live_all_cores_per_tile_cluster": per_tile(report.cluster) if report.cluster else None,
        "scaling_2_over_1": None if scaled is None or one_kept_up else scaled[0],
        "scaling_is_lower_bound": None if scaled is None or one_kept_up else scaled[1],
        "worker_kill_median_s": median(f.worker_kill_s) if f else None,
        "node_loss_median_s": median(f.node_loss_s) if f else None,
    }


def _cpu_line(name: str, run: SiteRun, w: Window) -> str:
    groups = ", ".join(f"{k} {v / w.seconds * 100:.1f}" for k, v in w.cpu_s.items() if v)
    ok, why = w.keeps_up()
    return (f"  {name:<26} {cores_per_camera(w, run.cameras) * 100:6.2f} % of a core per camera  "
            f"(total {w.cpu_total_s / w.seconds * 100:.1f} %: {groups}); "
            f"{w.looks_per_s / run.cameras:.3f} looks/cam/s, "
            f"{'keeps up' if ok else why}; RSS {sum(w.rss_mb.values()):.0f} MiB")


def format_report(report: Report) -> str:
    m = report.machine
    lines = [f"machine: {m['cpu_model']}, {m['usable_cores']} usable cores, {m['system']}, Python {m['python']}, "
             f"Ray {m.get('ray', '?')}; load average {m.get('load_average_at_start', '?')} at the start, "
             f"{m.get('load_average_at_end', '?')} at the end",
             f"cameras: RTSP ({'; '.join(report.clips)}), 1 look / {INTERVAL_S:g} s, default card; "
             f"windows {report.seconds:g} s after {report.warmup:g} s warm-up; {report.date}", ""]
    if report.inprocess and report.cluster:
        lines.append(f"1. CPU per analysed camera, {report.inprocess.cameras} cameras (100 % = one core; control "
                     "plane, camera workers, Ray's daemons, PostgreSQL; not the RTSP server):")
        lines.append(_cpu_line("in-process", report.inprocess, report.inprocess.idle))
        lines.append(_cpu_line("cluster, 1 worker node", report.cluster, report.cluster.idle))
        ratio, citywall_only = overhead(report), overhead(report, ("ray daemons",))
        if ratio is not None and citywall_only is not None:
            lines.append(f"  overhead cluster ÷ in-process: ×{ratio:.2f} (target ≤ ×1.15); without Ray's own daemons "
                         f"×{citywall_only:.2f}")
        lines.append("")
    if report.scale:
        n = next(iter(report.scale.values())).cameras
        lines.append(f"2. scaling, {n} cameras, each camera worker pinned to one core of its own:")
        for nodes, run in sorted(report.scale.items()):
            cap, bound = capacity(run)
            lines.append(_cpu_line(f"{nodes} worker node(s)", run, run.idle))
            lines.append(f"  {'':<26} cameras kept up at 1 look / {INTERVAL_S:g} s: {'≥ ' if bound else '≈ '}{cap:.1f}"
                         f"  (workers: {run.workers}; {run.pinned})")
        ratio_bound = scaling(report)
        if ratio_bound is not None and 1 in report.scale and capacity(report.scale[1])[1]:
            lines.append("  ratio 2 nodes ÷ 1 node: not measured — one node kept up with every camera too "
                         "(raise --scale-cameras until it does not)")
        elif ratio_bound is not None:
            lines.append(f"  ratio 2 nodes ÷ 1 node: {'≥ ' if ratio_bound[1] else ''}×{ratio_bound[0]:.2f} "
                         "(target ≥ ×1.8)")
        lines.append("")
    if report.inprocess and report.cluster:
        lines.append("3. live view, one tile per camera (what a tile adds over the window without viewers):")
        for name, run in (("in-process", report.inprocess), ("cluster, 1 worker node", report.cluster)):
            cp, total = per_tile(run, ("control plane",)), per_tile(run)
            if run.live is not None and cp is not None and total is not None:
                lines.append(f"  {name:<26} control plane {cp * 100:5.2f} % per tile, all processes "
                             f"{total * 100:5.2f} % per tile; {run.live.bytes_per_s / run.live.tiles / 1e3:.0f} kB/s "
                             "per tile proxied")
        cp_in, cp_cl = per_tile(report.inprocess, ("control plane",)), per_tile(report.cluster, ("control plane",))
        all_in, all_cl = per_tile(report.inprocess), per_tile(report.cluster)
        if cp_in and cp_cl is not None and all_in and all_cl is not None:
            lines.append(f"  ratio cluster ÷ in-process: control plane ×{cp_cl / cp_in:.2f}, all processes "
                         f"×{all_cl / all_in:.2f}")
        lines.append("")
    if report.failover is not None:
        f = report.failover
        lines.append(f"4. failover, {f.cameras} cameras on 2 worker nodes (median of {len(f.worker_kill_s)}):")
        for name, values in (("worker process SIGKILL → its cameras live again", f.worker_kill_s),
                             ("node removed → its cameras owned elsewhere and live", f.node_loss_s)):
            med = median(values)
            shown = ", ".join("timeout" if v is None else f"{v:.1f}" for v in values)
            lines.append(f"  {name:<52} {'n/a' if med is None else f'{med:.1f} s'}  ({shown})")
        lines += [f"  note: {note}" for note in f.notes]
        lines.append("")
    lines += [f"note: {note}" for note in report.notes]
    return "\n".join(lines).rstrip()
