"""What the control plane knows of its camera workers, and how it learns it without acting on them: one
``WorkerSlot`` per worker actor, found by name in the namespace (workers are detached named actors), with
the last report each sent.

A module of its own beside ``wall.cluster.pool`` (which spawns, kills, tells and collects: the supervisor's
work) because this part is all a **follower** replica does, and what a replica that takes over starts from.
Both read the workers' names and reports and fill the scheduler: following (``_follow``) never spawns, kills,
tells or acknowledges; re-attaching (``_adopt_running``) keeps each answering worker's cameras and epochs and
kills only a worker that does not answer (fenced, as the supervisor would take it out).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import ray
from ray.exceptions import GetTimeoutError, RayError

from wall.cluster.messages import WorkerReport
from wall.cluster.scheduler import Assignment, Scheduler
from wall.runtime.models import NodeView

log = logging.getLogger(__name__)
SUPERVISE_SECONDS = 1.0
REPORT_TIMEOUT = 5.0  # a ready worker that has not answered its report for this long is taken out
WORKER_PREFIX = "citywall-worker-"


@dataclass
class WorkerSlot:
    """The control plane's view of one worker actor."""

    key: str
    node_id: str
    actor: Any  # ray.actor.ActorHandle
    created: float = field(default_factory=time.monotonic)
    ready: bool = False
    report: WorkerReport | None = None
    report_ref: Any = None
    report_sent: float = 0.0
    reported_at: float | None = None  # when the last report arrived (monotonic)
    pull_ref: Any = None
    acked: int = 0
    incarnation: str = ""  # the process the reports come from (Ray restarts it in place when it dies)
    events_from: str = ""  # the incarnation ``acked`` counts in
    unavailable_since: float | None = None  # Ray says the actor is restarting
    restarts: int = 0
    told: dict[str, tuple[str, int]] = field(default_factory=dict)  # camera → (fingerprint, epoch) it runs
    model_told: tuple[str, float] = ("", 0.0)  # the card use_model was last sent for, and when (monotonic)


class WorkerTable:
    """The pool's workers by key (under ``_lock``), the cluster's nodes at the last pass, and the two ways of
    filling them from the running workers: adopting (a supervisor re-attaching) and following."""

    def __init__(self, scheduler: Scheduler, namespace: str, on_report: Callable[[WorkerReport], None]) -> None:
        self.scheduler = scheduler
        self.namespace = namespace
        self._on_report = on_report
        self.leading = False  # this pool supervises (it took over); a follower only reads reports
        self._slots: dict[str, WorkerSlot] = {}
        self.nodes: list[NodeView] = []  # the cluster's nodes at the last pass (for /metrics: never asked then)
        self._lock = threading.Lock()

    def slots(self) -> list[WorkerSlot]:
        with self._lock:
            return list(self._slots.values())

    def slot(self, key: str) -> WorkerSlot | None:
        return self._slots.get(key)

    def _read_nodes(self) -> list[dict[str, Any]]:
        """Ray's nodes now (kept as ``nodes`` for /metrics)."""
        every: list[dict[str, Any]] = ray.nodes()
        self.nodes = [NodeView(node_id=n["NodeID"], node_ip=n.get("NodeManagerAddress"), alive=bool(n.get("Alive")),
                               cpus=float(n.get("Resources", {}).get("CPU", 0))) for n in every]
        return every

    def _named_workers(self) -> list[str]:
        """The names of this namespace's camera workers (whoever started them)."""
        return [entry["name"] for entry in ray.util.list_named_actors(all_namespaces=True)
                if entry["namespace"] == self.namespace and entry["name"].startswith(WORKER_PREFIX)]

    def _adopt_running(self, followed: dict[str, WorkerSlot] | None = None) -> None:
        """Re-attach to the workers a previous control plane left running (named actors of this namespace):
        each keeps the cameras and epochs it holds; one that does not answer is killed — unless this replica
        followed it until now and has a recent report of it (``followed``): a worker slow to answer once, on a
        busy node, is then adopted from that report, and the usual supervision takes it out if it stays
        silent for REPORT_TIMEOUT (a takeover never moves cameras off a worker that is merely slow)."""
        found = self._named_workers()
        handles: list[Any] = [ray.get_actor(name, namespace=self.namespace) for name in found]
        refs: list[Any] = [handle.report.remote() for handle in handles]
        if refs:
            ray.wait(refs, num_returns=len(refs), timeout=REPORT_TIMEOUT)
        claims: list[Assignment] = []
        for name, handle, ref in zip(found, handles, refs, strict=True):
            reported_at = time.monotonic()
            try:
                report: WorkerReport = ray.get(ref, timeout=0)
            except (GetTimeoutError, RayError):
                known = (followed or {}).get(name.removeprefix(WORKER_PREFIX))
                if known is None or known.report is None or known.reported_at is None \
                        or time.monotonic() - known.reported_at > 2 * REPORT_TIMEOUT:
                    ray.kill(handle)
                    continue
                report, reported_at = known.report, known.reported_at
            told = {cam: (report.fingerprints.get(cam, ""), epoch) for cam, epoch in report.owned.items()}
            with self._lock:
                self._slots[report.worker] = WorkerSlot(key=report.worker, node_id=report.node_id, actor=handle,
                                                        ready=True, report=report, told=told,
                                                        incarnation=report.incarnation,
                                                        reported_at=reported_at)
            claims += [Assignment(camera_id=cam, worker=report.worker, epoch=epoch)
                       for cam, epoch in report.owned.items()]
            self._on_report(report)
            log.info("re-attached to camera worker %s on node %s: cameras %s", report.worker, report.node_id[:8],
                     sorted(report.owned))
        for refused in self.scheduler.adopt(claims):
            log.warning("camera %s claimed by two workers: %s releases it", refused.camera_id, refused.worker)

    def _take_over(self) -> None:
        """Become the supervisor: forget what was followed and re-attach to the running workers."""
        with self._lock:
            followed, self._slots = self._slots, {}
        self.scheduler.mirror([])
        self._adopt_running(followed)
        self.leading = True
        log.info("cluster namespace %r: supervising %d camera workers", self.namespace, len(self._slots))

    def _follow(self) -> None:
        """A follower's pass: the workers by name, their reports, the table they imply. Kills nothing."""
        self._read_nodes()
        names = {name.removeprefix(WORKER_PREFIX) for name in self._named_workers()}
        with self._lock:
            self._slots = {key: slot for key, slot in self._slots.items() if key in names}
        for key in names - set(self._slots):
            try:
                actor = ray.get_actor(WORKER_PREFIX + key, namespace=self.namespace)
            except ValueError:
                continue  # gone since it was listed
            with self._lock:
                self._slots[key] = WorkerSlot(key=key, node_id="", actor=actor)
        slots = self.slots()
        for slot in slots:
            if slot.report_ref is None:
                slot.report_ref, slot.report_sent = slot.actor.report.remote(False), time.monotonic()
        if slots:
            ray.wait([slot.report_ref for slot in slots], num_returns=len(slots), timeout=SUPERVISE_SECONDS)
        for slot in slots:
            try:
                report: WorkerReport = ray.get(slot.report_ref, timeout=0)
            except GetTimeoutError:
                continue
            except RayError:
                slot.report_ref = None
                slot.unavailable_since = slot.unavailable_since or time.monotonic()
                continue
            if slot.ready and report.incarnation != slot.incarnation:
                slot.restarts += 1
            slot.report_ref, slot.unavailable_since, slot.ready, slot.report = None, None, True, report
            slot.node_id, slot.incarnation, slot.reported_at = report.node_id, report.incarnation, time.monotonic()
            self._on_report(report)
        self.scheduler.mirror([Assignment(camera_id=cam, worker=slot.key, epoch=epoch) for slot in self.slots()
                               if slot.report is not None and slot.unavailable_since is None
                               for cam, epoch in slot.report.owned.items()])
