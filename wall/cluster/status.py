"""``citywall cluster status``: the cluster as the camera workers see it, for an operator at a terminal.

It joins the cluster as one more driver and asks each worker of the site's namespace for its report (the
same one the control plane polls), so it works while the control plane is down too — that is when it is
needed most. One line per node, one per worker with its cameras and their states, and the event changes
waiting to be collected (the control plane's lag).
"""

from __future__ import annotations

from typing import Any, TextIO

import ray
from ray.exceptions import GetTimeoutError, RayError

from wall.cluster.messages import WorkerReport
from wall.cluster.pool import REPORT_TIMEOUT, WORKER_PREFIX
from wall.config import ClusterSettings


def print_status(settings: ClusterSettings, out: TextIO) -> int:
    """Print the nodes and workers of the site's namespace; 1 when a worker did not answer, else 0."""
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
    if not names:
        print(f"no camera workers in namespace {settings.namespace!r}", file=out)
    return 1 if silent else 0
