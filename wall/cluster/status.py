"""``citywall cluster status``: the cluster as the camera workers see it, for an operator at a terminal.

It joins the cluster as one more driver and asks each worker of the site's namespace for its report (the
same one the control plane polls), so it works while the control plane is down too — that is when it is
needed most. One line per node, one per worker with its cameras and their states, and the event changes
waiting to be collected (the control plane's lag).

First, one line per control-plane replica of the namespace, from PostgreSQL: each replica's lock connection
(``wall.cluster.leader``) names it (host:pid), and ``pg_locks`` says which one holds the supervisor's lock (it
leads) and which the walls' (it steps the tours). A database that does not answer leaves that part out, with
the reason, and the workers are still listed.
"""

from __future__ import annotations

from typing import Any, TextIO

import psycopg
import ray
from ray.exceptions import GetTimeoutError, RayError

from wall.cluster.batching import DetectorActorStats
from wall.cluster.detector import DETECTOR_PREFIX
from wall.cluster.leader import APPLICATION, lock_key
from wall.cluster.listen import conninfo
from wall.cluster.messages import WorkerReport
from wall.cluster.worker_table import REPORT_TIMEOUT, WORKER_PREFIX
from wall.config import ClusterSettings


def control_planes(database_url: str, namespace: str) -> list[str]:
    """One line per control-plane replica of ``namespace``: host:pid, its address as the database sees it, and
    whether it supervises the workers and steps the walls' tours (raises ``psycopg.Error``)."""
    duties: dict[str, dict[str, bool]] = {}
    addresses: dict[str, str] = {}
    with psycopg.connect(conninfo(database_url), autocommit=True, connect_timeout=5) as conn:
        for purpose in ("supervisor", "walls"):
            key = lock_key(namespace, purpose) & 0xFFFFFFFFFFFFFFFF
            prefix = f"{APPLICATION} {purpose} {namespace} "
            rows = conn.execute(
                "SELECT a.application_name, host(a.client_addr), EXISTS (SELECT 1 FROM pg_locks l WHERE "
                "l.pid = a.pid AND l.locktype = 'advisory' AND l.granted AND l.classid = %s AND l.objid = %s "
                "AND l.objsubid = 1) FROM pg_stat_activity a WHERE a.datname = current_database() "
                "AND starts_with(a.application_name, %s)", (key >> 32, key & 0xFFFFFFFF, prefix)).fetchall()
            for application, address, holds in rows:
                replica = str(application).removeprefix(prefix)
                duties.setdefault(replica, {})[purpose] = bool(holds)
                addresses[replica] = address or "local socket"
    lines = []
    for replica, held in sorted(duties.items()):
        role = "supervising" if held.get("supervisor") else "following"
        walls = ", stepping the walls' tours" if held.get("walls") else ""
        lines.append(f"control plane {replica} ({addresses[replica]}): {role}{walls}")
    return lines or [f"no control plane of namespace {namespace!r} is connected to the database"]


def print_status(settings: ClusterSettings, out: TextIO, database_url: str | None = None) -> int:
    """Print the control planes (with ``database_url``), nodes and workers of the site's namespace; 1 when a
    worker did not answer, else 0."""
    if database_url is not None:
        try:
            for line in control_planes(database_url, settings.namespace):
                print(line, file=out)
        except psycopg.Error as exc:
            why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            print(f"control planes: unknown (the database does not answer: {why})", file=out)
    joined = not ray.is_initialized()
    if joined:
        ray.init(address=settings.address, namespace=settings.namespace, log_to_driver=False)
    try:
        return _print(settings, out)
    finally:
        if joined:
            ray.shutdown()


def _print(settings: ClusterSettings, out: TextIO) -> int:
    for node in ray.nodes():
        cpus = node.get("Resources", {}).get("CPU", 0)
        print(f"node {node['NodeID'][:8]} {node.get('NodeManagerAddress')} "
              f"{'alive' if node.get('Alive') else 'dead'} cpus={cpus:g}", file=out)
    names = sorted(entry["name"] for entry in ray.util.list_named_actors(all_namespaces=True)
                   if entry["namespace"] == settings.namespace and entry["name"].startswith(WORKER_PREFIX))
    handles: list[Any] = [ray.get_actor(name, namespace=settings.namespace) for name in names]
    refs: list[Any] = [handle.report.remote() for handle in handles]
    if refs:
        ray.wait(refs, num_returns=len(refs), timeout=REPORT_TIMEOUT)
    silent = 0
    for name, ref in zip(names, refs, strict=True):
        try:
            report: WorkerReport = ray.get(ref, timeout=0)
        except (GetTimeoutError, RayError) as exc:
            silent += 1
            print(f"worker {name.removeprefix(WORKER_PREFIX)}: no answer ({type(exc).__name__})", file=out)
            continue
        states = {s.id: s.health.state for s in report.statuses}
        cameras = ", ".join(f"{cam} {states.get(cam, '?')} (epoch {epoch})"
                            for cam, epoch in sorted(report.owned.items()))
        print(f"worker {report.worker} node {report.node_id[:8]} pid {report.pid}: {len(report.owned)} cameras, "
              f"{report.pending_events} events waiting: {cameras or '-'}", file=out)
        use = report.detector_actor
        if use is not None:
            print(f"  detects with {use.actor}: {use.looks} looks, {use.frames} frames, {use.fallbacks} on its "
                  f"own CPU{f' (last: {use.last_error})' if use.last_error else ''}", file=out)
    if not names:
        print(f"no camera workers in namespace {settings.namespace!r}", file=out)
    return 1 if _print_detectors(settings, out) or silent else 0


def _print_detectors(settings: ClusterSettings, out: TextIO) -> int:
    """The detector actors (one per node with a GPU): providers, looks, frames per run, queue; how many did
    not answer."""
    names = sorted(entry["name"] for entry in ray.util.list_named_actors(all_namespaces=True)
                   if entry["namespace"] == settings.namespace and entry["name"].startswith(DETECTOR_PREFIX))
    silent = 0
    for name in names:
        try:
            ref: Any = ray.get_actor(name, namespace=settings.namespace).stats.remote()
            stats: DetectorActorStats = ray.get(ref, timeout=REPORT_TIMEOUT)
        except (GetTimeoutError, RayError, ValueError) as exc:
            silent += 1
            print(f"detector {name}: no answer ({type(exc).__name__})", file=out)
            continue
        mean = stats.frames / stats.runs if stats.runs else 0.0
        print(f"detector {name} node {stats.node_id[:8]} {stats.providers[0] if stats.providers else '?'}: "
              f"{stats.requests} looks, {stats.runs} runs of {mean:.1f} frames (max {stats.max_batch_seen}), "
              f"{stats.queued_frames} frames waiting, busy {stats.busy_seconds:.1f} s", file=out)
    return silent
