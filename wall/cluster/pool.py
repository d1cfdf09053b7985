"""The camera workers of a cluster: one per Ray node, supervised, told what to run, their events collected.

Two threads of the control plane:

- the **supervisor** (every ``SUPERVISE_SECONDS``, or at once when kicked after a camera change) keeps one
  ``CameraWorker`` per alive node that offers ``worker_cpus``, pinned to it; polls every worker's report; takes a
  worker that died for good (Ray says so) or stopped answering (``REPORT_TIMEOUT``) out of the pool — killed, so
  it can never come back under its name — then lets the scheduler place the cameras it had (and rebalance when a
  worker joined) and tells every worker what it runs now (``assign``/``release``, waited for up to ``TELL_TIMEOUT``);
- a worker whose *process* died is restarted in place by Ray (``max_restarts``): while Ray says it is
  unavailable it keeps its cameras (for up to ``START_TIMEOUT``), and once it reports a new incarnation it is
  told them again under the same epochs — nothing moves, the cameras are back as soon as they reconnect;
- the **collector** long-polls each worker's event queue and hands every change to the ingress, acknowledging a
  batch only on the next poll, after the ingress (and the case desk behind it) has committed it.

Workers are detached named actors: they outlive this control plane, and the next one re-attaches to them at
start (``_adopt_running``, in ``wall.cluster.worker_table``: each camera keeps its worker, session and epoch). A
dead worker never blocks the API: routes ask workers with timeouts and otherwise answer from the last report.

With several control-plane replicas only the one that ``leads`` (``wall.cluster.leader``: a PostgreSQL advisory
lock) supervises and collects. The others **follow**: every second they find the namespace's workers by name,
read their reports and mirror what each holds into the scheduler (so the API, ``/metrics`` and live views work
on any replica), and never spawn, kill, tell or acknowledge. A follower that gets the lock re-attaches as a
restarted control plane would (``_take_over``), so the cameras keep their workers and epochs.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ray
from ray.exceptions import ActorUnavailableError, GetTimeoutError, RayError
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from streams.config import CameraConfig
from vision.card import DEFAULT_CARD
from vision.rules_config import CameraRules
from wall.cluster.detector import place_detector
from wall.cluster.ingress import EventIngress
from wall.cluster.messages import EventBatch, WorkerReport, fingerprint
from wall.cluster.scheduler import Scheduler, camera_cost
from wall.cluster.worker import CameraWorker
from wall.cluster.worker_table import REPORT_TIMEOUT, SUPERVISE_SECONDS, WORKER_PREFIX, WorkerSlot, WorkerTable
from wall.cluster_settings import DetectorActorSettings
from wall.config import SiteConfig

log = logging.getLogger(__name__)
START_TIMEOUT = 120.0  # a new (or restarted) worker must have started (detector loaded) within this
MAX_RESTARTS = -1  # Ray restarts a worker whose process died, on its node, as often as it dies
MODEL_RETRY_SECONDS = 60.0  # a worker still on another card this long after use_model is told again
TELL_TIMEOUT = 15.0  # an assign may restart a session: it waits for the old connection's thread
PULL_SECONDS = 1.0
Wanted = Callable[[], dict[str, tuple[CameraConfig, CameraRules]]]  # the cameras that must run, in order

CameraWorkerActor: Any = ray.remote(CameraWorker)


class WorkerPool(WorkerTable):
    """The supervisor's side: spawning a worker per node, taking dead ones out, telling each what it runs, and
    collecting their events (``WorkerTable``: what is known of them, and following)."""

    def __init__(self, site: SiteConfig, scheduler: Scheduler, ingress: EventIngress, wanted: Wanted, *,
                 namespace: str, worker_cpus: float, on_report: Callable[[WorkerReport], None],
                 leads: Callable[[], bool] = lambda: True, detectors: DetectorActorSettings | None = None) -> None:
        super().__init__(scheduler, namespace, on_report)
        self.site, self.ingress, self.worker_cpus = site, ingress, worker_cpus
        self.detectors = detectors or DetectorActorSettings()  # where nodes have GPUs: one detector actor each
        self._wanted, self._leads = wanted, leads
        # the card every worker must detect with: the site's at start-up, then each promotion's (use_model)
        self.model = str((site.model_card or DEFAULT_CARD).resolve()) if site.analytics is not None else ""
        self._stop = threading.Event()
        self._kick = threading.Event()
        self._ticked = threading.Condition()
        self._ticks = 0
        self._threads = [threading.Thread(target=self._supervise, name="cluster-supervisor", daemon=True),
                         threading.Thread(target=self._collect, name="cluster-events", daemon=True)]

    @property
    def running(self) -> bool:
        return self._threads[0].is_alive()

    def start(self) -> None:
        for thread in self._threads:  # the first pass re-attaches to running workers (when this replica leads)
            thread.start()

    def stop(self) -> None:
        """Stop supervising. The workers keep their cameras: a control plane started again re-attaches to them
        without cutting any video (and a worker left alone ends by itself, ``worker.ORPHAN_SECONDS``)."""
        self._stop.set()
        self._kick.set()
        for thread in self._threads:
            thread.join(TELL_TIMEOUT + 5)

    def kick(self) -> None:
        """Start the next supervision pass now, without waiting for it."""
        self._kick.set()

    def sync(self, timeout: float = TELL_TIMEOUT + 5) -> bool:
        """Run one full supervision pass now (after a camera change) and wait for it to finish."""
        with self._ticked:
            target = self._ticks + 2  # the pass under way may have read the cameras before the change
            self._kick.set()
            return self._ticked.wait_for(lambda: self._ticks >= target, timeout)

    # -- supervisor ---------------------------------------------------------------------------------------------
    def _supervise(self) -> None:
        while not self._stop.is_set():
            try:
                if self._leads():
                    if not self.leading:
                        self._take_over()
                    self._tick()
                else:
                    if self.leading:
                        self.leading = False
                        log.warning("cluster namespace %r: another control plane supervises now: following",
                                    self.namespace)
                    self._follow()
            except Exception:
                log.exception("cluster supervision pass failed")
            with self._ticked:
                self._ticks += 1
                self._ticked.notify_all()
            self._kick.wait(SUPERVISE_SECONDS)
            self._kick.clear()

    def _tick(self) -> None:
        self._spawn_missing()
        joined = self._poll_reports()
        wanted = self._wanted()
        seen = {s.id: s.health for slot in self.slots() if slot.report for s in slot.report.statuses}
        costs = {cam: camera_cost(camera, rules, seen.get(cam)) for cam, (camera, rules) in wanted.items()}
        ready = [slot.key for slot in self.slots() if slot.ready]
        for placed in self.scheduler.plan(costs, ready, rebalance=joined):
            log.info("camera %s assigned to worker %s (epoch %d)", placed.camera_id, placed.worker, placed.epoch,
                     extra={"camera": placed.camera_id})
        self._tell(wanted)

    def _spawn_missing(self) -> None:
        every = self._read_nodes()
        nodes = [n for n in every if n.get("Alive") and n.get("Resources", {}).get("CPU", 0) >= self.worker_cpus]
        alive = {n["NodeID"] for n in nodes}
        for slot in self.slots():
            if slot.node_id not in alive:
                self._drop(slot, "its node left the cluster")
        with self._lock:
            covered = {slot.node_id for slot in self._slots.values()}
        for node in nodes:
            if node["NodeID"] in covered:
                continue
            key, ip = f"{node['NodeID'][:8]}-{uuid.uuid4().hex[:6]}", node.get("NodeManagerAddress") or ""
            # Detached: the worker outlives this control plane, so a restarted one finds it by name.
            actor = CameraWorkerActor.options(
                name=WORKER_PREFIX + key, namespace=self.namespace, lifetime="detached", num_cpus=self.worker_cpus,
                max_restarts=MAX_RESTARTS, max_task_retries=0,
                scheduling_strategy=NodeAffinitySchedulingStrategy(node["NodeID"], soft=False),
            ).remote(self.site, key, node["NodeID"], ip,
                     place_detector(node, self.site, self.detectors, self.namespace))
            with self._lock:
                self._slots[key] = WorkerSlot(key=key, node_id=node["NodeID"], actor=actor)
            log.info("camera worker %s starting on node %s (%s)", key, node["NodeID"][:8], ip)

    def _poll_reports(self) -> bool:
        """Collect the workers' reports; whether a worker answered for the first time (it joined)."""
        joined = False
        now = time.monotonic()
        slots = self.slots()
        for slot in slots:
            if slot.report_ref is None:
                slot.report_ref, slot.report_sent = slot.actor.report.remote(), now
        refs = [slot.report_ref for slot in slots]
        if refs:
            ray.wait(refs, num_returns=len(refs), timeout=SUPERVISE_SECONDS)
        for slot in slots:
            try:
                report: WorkerReport = ray.get(slot.report_ref, timeout=0)
            except GetTimeoutError:
                if slot.unavailable_since is not None:
                    late = time.monotonic() - slot.unavailable_since
                    limit = START_TIMEOUT
                else:
                    late = time.monotonic() - (slot.report_sent if slot.ready else slot.created)
                    limit = REPORT_TIMEOUT if slot.ready else START_TIMEOUT
                if late > limit:
                    self._drop(slot, f"no report for {late:.0f} s")
                continue
            except ActorUnavailableError:  # its process died and Ray is restarting it on its node
                slot.report_ref = None
                if slot.unavailable_since is None:
                    slot.unavailable_since = time.monotonic()
                    log.warning("camera worker %s unavailable (Ray restarts it): its cameras %s wait for it",
                                slot.key, sorted(slot.told))
                elif time.monotonic() - slot.unavailable_since > START_TIMEOUT:
                    self._drop(slot, f"not back {START_TIMEOUT:.0f} s after its process died")
                continue
            except RayError as exc:
                self._drop(slot, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
                continue
            slot.report_ref, slot.unavailable_since = None, None
            if not slot.ready:
                log.info("camera worker %s ready", slot.key)
                joined = True
            elif report.incarnation != slot.incarnation:
                slot.restarts += 1
                log.warning("camera worker %s restarted in place (pid %s → %d): told its cameras %s again",
                            slot.key, slot.report.pid if slot.report else "?", report.pid, sorted(slot.told))
                slot.told = {}  # the new process runs nothing: _tell assigns its cameras again, same epochs
                slot.model_told = ("", 0.0)  # and it starts with the site's first card
            slot.ready, slot.report, slot.incarnation = True, report, report.incarnation
            slot.reported_at = time.monotonic()
            self._on_report(report)
        return joined

    def _drop(self, slot: WorkerSlot, why: str) -> None:
        with self._lock:
            if self._slots.pop(slot.key, None) is None:
                return
        log.warning("camera worker %s taken out of the cluster: %s; its cameras %s move", slot.key, why,
                    sorted(slot.told))
        ray.kill(slot.actor)  # fenced: a worker presumed dead must not come back under its name

    def _tell(self, wanted: dict[str, tuple[CameraConfig, CameraRules]]) -> None:
        if not self._leads():
            return  # deposed during this pass: the new leader tells them
        refs: dict[Any, tuple[WorkerSlot, str, bool]] = {}  # call → (worker, camera, an assign?)
        owners = {a.camera_id: a for a in self.scheduler.assignments()}
        reachable = [slot for slot in self.slots() if slot.unavailable_since is None]  # not while Ray restarts it
        for slot in reachable:
            for cam in [cam for cam in slot.told if cam not in owners or owners[cam].worker != slot.key]:
                del slot.told[cam]
                refs[slot.actor.release.remote(cam)] = (slot, cam, False)
        for cam, a in owners.items():
            owner = self.slot(a.worker)
            if owner is None or owner.unavailable_since is not None or cam not in wanted:
                continue
            camera, rules = wanted[cam]
            if owner.told.get(cam) != (fingerprint(camera, rules), a.epoch):
                owner.told[cam] = (fingerprint(camera, rules), a.epoch)
                refs[owner.actor.assign.remote(camera, rules, a.epoch)] = (owner, cam, True)
        models = self._tell_model(reachable)
        refs.update({ref: (slot, "", False) for ref, slot in models.items()})
        if not refs:
            return
        ready, _ = ray.wait(list(refs), num_returns=len(refs), timeout=TELL_TIMEOUT)
        for ref in ready:
            try:
                ray.get(ref)
            except RayError as exc:
                slot, cam, assign = refs[ref]
                if assign:
                    slot.told.pop(cam, None)  # told again at the next pass
                if ref in models:
                    slot.model_told = ("", 0.0)
                    log.warning("camera worker %s did not switch to %s: %s", slot.key, self.model,
                                str(exc).splitlines()[0])
                    continue
                log.warning("camera worker %s did not take camera %s: %s", slot.key, cam,
                            str(exc).splitlines()[0], extra={"camera": cam})

    def _tell_model(self, reachable: list[WorkerSlot]) -> dict[Any, WorkerSlot]:
        """``use_model`` to every worker whose last report names another card than ``model``: told once, and
        again after ``MODEL_RETRY_SECONDS`` if its reports still say otherwise (or once Ray restarted it)."""
        calls: dict[Any, WorkerSlot] = {}
        now = time.monotonic()
        for slot in reachable:
            report = slot.report
            if not self.model or report is None or not report.model or \
                    str(Path(report.model).resolve()) == self.model:
                continue
            card, when = slot.model_told
            if card == self.model and now - when < MODEL_RETRY_SECONDS:
                continue
            slot.model_told = (self.model, now)
            log.info("camera worker %s detects with %s: switching to %s", slot.key, report.model, self.model)
            calls[slot.actor.use_model.remote(self.model)] = slot
        return calls

    # -- collector ----------------------------------------------------------------------------------------------
    def _collect(self) -> None:
        while not self._stop.is_set():
            if not self.leading:  # only the supervising replica collects (and acknowledges) events
                self._stop.wait(0.2)
                continue
            slots = [slot for slot in self.slots() if slot.ready]
            for slot in slots:
                if slot.pull_ref is None:
                    slot.pull_ref = slot.actor.pull.remote(slot.acked, PULL_SECONDS, slot.events_from)
            pending = {slot.pull_ref: slot for slot in slots}
            if not pending:
                self._stop.wait(0.2)
                continue
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=PULL_SECONDS + 1)
            for ref in ready:
                slot = pending[ref]
                slot.pull_ref = None
                try:
                    batch: EventBatch = ray.get(ref)
                except RayError:
                    self._stop.wait(0.2)
                    continue  # the worker died or restarts: the supervisor sees to it
                if batch.incarnation != slot.events_from:  # a new process (or the first pull): counts from 0
                    slot.events_from, slot.acked = batch.incarnation, 0
                for event in batch.events:
                    if event.seq > slot.acked:
                        self.ingress.accept(event)
                        slot.acked = event.seq
