"""``RayRuntime``: the ``CameraRuntime`` of cluster mode — the cameras run in ``CameraWorker`` actors.

The control plane (this process) keeps the registry, the scheduler's assignment table and the event ingress;
everything about a camera's video is asked of the worker that owns it, with a timeout. What a route needs at
once and a worker may be too slow or dead to answer (the list of statuses, the Prometheus scrape) comes from
the workers' last reports; a camera whose worker is gone shows as ``connecting`` until it runs again elsewhere.
A live view ends (``None``: the page reconnects, close code 1012) when its camera moves or its worker dies.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import ray
from ray.exceptions import RayError
from sqlalchemy.engine import make_url

from settings.errors import ConfigError
from streams.config import CameraConfig
from streams.ring import ClipUnavailable
from vision.events import EventChange
from vision.evidence import EvidenceHealth
from vision.rules_config import CameraRules
from wall.cluster.ingress import EventIngress
from wall.cluster.leader import LeaderLock
from wall.cluster.ledger import CounterLedger
from wall.cluster.messages import ClipAnswer, WorkerReport
from wall.cluster.pool import WorkerPool
from wall.cluster.scheduler import Assignment, Scheduler
from wall.config import SERVER_FILE, ClusterSettings, SiteConfig, cluster_problems
from wall.runtime import recording_storage
from wall.runtime.interface import BatchListener, CameraRuntime, EventListener, LiveFeed, SegmentListener
from wall.runtime.models import (
    AnalyticsCounters,
    CameraStatus,
    Clip,
    ClusterView,
    Health,
    LiveItem,
    Overlay,
    PlaceCheck,
    Placement,
    WorkerView,
)
from wall.runtime.registry import CameraRegistry, RegistryChange

log = logging.getLogger(__name__)
CALL_TIMEOUT = 10.0  # a snapshot, clip or overlay from a worker
STATUS_TIMEOUT = 2.0  # one camera's status: a hung worker's cameras then show as connecting
LEADER_WAIT = 10.0  # start waits this long for the first try for the supervisor lock
LIVE_SLACK = 5.0  # a live batch may take its wait plus this before the view counts its worker as gone
LIVE_OPEN_WAIT = 5.0  # a view of a camera its owner is still starting waits this long for the session


async def _call(ref: Any, timeout: float = CALL_TIMEOUT) -> Any:
    """Await a Ray call on this event loop, at most ``timeout`` s."""
    return await asyncio.wait_for(asyncio.wrap_future(ref.future()), timeout)


def _waiting(camera_id: str) -> CameraStatus:
    """A camera that must run but has no worker now (just configured, or its worker died)."""
    health = Health(state="connecting", since=time.time(), last_error=None, last_error_kind=None, fps=None,
                    bitrate_kbps=None, gop_seconds=None, reconnects=0, codec=None, profile=None, width=None,
                    height=None)
    return CameraStatus(id=camera_id, health=health, viewers=0, analysed=False, scene_moved=False)


class _RemoteFeed(LiveFeed):
    """A live view served by the worker that owned the camera when it was opened."""

    def __init__(self, runtime: RayRuntime, owner: Assignment, actor: Any, feed_id: str | None) -> None:
        self.runtime, self.owner, self.actor, self.feed_id = runtime, owner, actor, feed_id

    async def next(self, timeout: float) -> list[LiveItem] | None:
        if self.feed_id is None:  # not placed, or its worker did not answer: the page tries again in a moment
            await asyncio.sleep(min(timeout, 1.0))
            return None
        if self.runtime.scheduler.owner(self.owner.camera_id) != self.owner:
            return None  # the camera moved: the page reconnects to its new owner
        try:
            items: list[LiveItem] | None = await _call(self.actor.live_next.remote(self.feed_id, timeout),
                                                       timeout + LIVE_SLACK)
        except (RayError, TimeoutError):
            return None
        return items

    async def close(self) -> None:
        if self.feed_id is not None:
            with contextlib.suppress(RayError, TimeoutError):
                await _call(self.actor.close_live.remote(self.feed_id), 2.0)


class RayRuntime(CameraRuntime):
    def __init__(self, site: SiteConfig, registry: CameraRegistry, settings: ClusterSettings) -> None:
        problems = cluster_problems(site.server_file, SERVER_FILE)
        if problems:
            raise ConfigError(problems)
        self.site, self.registry, self.settings = site, registry, settings
        self.analytics_enabled = site.analytics is not None
        self.scheduler = Scheduler()
        # One supervisor per namespace among the replicas on this PostgreSQL (cluster_problems checked it is one).
        url = make_url(site.server_file.server.database_url or "")
        self.leader = LeaderLock(url.set(drivername="postgresql").render_as_string(hide_password=False),
                                 settings.namespace)
        self.ingress = EventIngress(self.scheduler, site.evidence_dir)
        self.pool = WorkerPool(site, self.scheduler, self.ingress, self._wanted,
                               namespace=settings.namespace, worker_cpus=settings.worker_cpus,
                               on_report=self._on_report, leads=lambda: self.leader.leading,
                               detectors=settings.detectors)
        self._batch_listeners: list[BatchListener] = []
        self._segment_listeners: list[SegmentListener] = []
        self._reports: dict[str, WorkerReport] = {}
        self.ledger = CounterLedger()
        self._connected = False

    # -- lifecycle ----------------------------------------------------------------------------------------------
    def start(self) -> None:
        if not ray.is_initialized():  # worker logs stay in Ray's log directory of each node (the driver's are ours)
            ray.init(address=self.settings.address, namespace=self.settings.namespace, log_to_driver=False)
            self._connected = True
        recording = self.site.server_file.recording  # the workers record only where they find this mark
        recording_storage.mark(recording.storage_root(self.site.directory, self.site.data_dir))
        self.leader.start()
        self.leader.wait_decided(LEADER_WAIT)
        self.pool.start()
        self.pool.sync()
        log.info("cluster mode on %s (%s): %d camera workers", self.settings.address,
                 "supervising" if self.pool.leading else "following", len(self.pool.slots()))

    def stop(self) -> None:
        self.pool.stop()  # supervision ends before the lock is given up: never two supervisors at once
        self.leader.stop()
        if self._connected:
            ray.shutdown()

    def apply(self, change: RegistryChange) -> None:
        """The registry has the change already: one supervision pass places, moves or updates the camera."""
        if not self.leader.leading:  # the supervising replica loads the shared files again (config_relay)
            log.info("camera %s's %s change: this control plane follows; the supervising replica places it",
                     change.camera.id, change.kind, extra={"camera": change.camera.id})
        if self.pool.running and not self.pool.sync():
            log.warning("camera %s's %s change not yet applied on the cluster", change.camera.id, change.kind,
                        extra={"camera": change.camera.id})

    def _wanted(self) -> dict[str, tuple[CameraConfig, CameraRules]]:
        return {c.id: (c, self.registry.rules(c.id)) for c in self.registry.cameras() if c.enabled}

    def _on_report(self, report: WorkerReport) -> None:
        self._reports = {**self._reports, report.worker: report}
        self.ledger.observe(report.worker, report.incarnation, report.counters)
        for frames, seconds in report.batches:
            for listener in list(self._batch_listeners):
                listener(frames, seconds)
        for segment in report.segments:  # repeated for a while on every report: the index adds a path once
            for segment_listener in list(self._segment_listeners):
                segment_listener(segment)

    def _owner(self, camera_id: str) -> tuple[Assignment, Any] | None:
        owner = self.scheduler.owner(camera_id)
        slot = self.pool.slot(owner.worker) if owner is not None else None
        return (owner, slot.actor) if owner is not None and slot is not None else None

    # -- cameras ------------------------------------------------------------------------------------------------
    def camera_statuses_now(self) -> list[CameraStatus]:
        # A worker Ray is restarting runs nothing now: its last report is no longer true.
        live = {slot.key for slot in self.pool.slots() if slot.unavailable_since is None}
        reported: dict[str, CameraStatus] = {}
        for worker, report in self._reports.items():
            if worker in live:
                placed = _placement(report)
                reported.update({s.id: s.model_copy(update={"placement": placed})
                                 for s in report.statuses if report.owned.get(s.id) is not None})
        statuses = []
        for cam in self._wanted():
            owner = self.scheduler.owner(cam)
            status = reported.get(cam) if owner is not None and owner.worker in live else None
            statuses.append(status or _waiting(cam))
        return statuses

    async def statuses(self) -> list[CameraStatus]:
        return self.camera_statuses_now()

    async def status(self, camera_id: str) -> CameraStatus | None:
        camera = self.registry.get(camera_id)
        if camera is None or not camera.enabled:
            return None
        found = self._owner(camera_id)
        if found is not None:
            with contextlib.suppress(RayError, TimeoutError):
                status: CameraStatus | None = await _call(found[1].status.remote(camera_id), STATUS_TIMEOUT)
                report = self._reports.get(found[0].worker)
                if status is not None:
                    return status.model_copy(update={"placement": _placement(report)}) if report else status
        return _waiting(camera_id)

    async def snapshot(self, camera_id: str, width: int | None = None) -> bytes | None:
        found = self._owner(camera_id)
        if found is None:
            return None
        try:
            jpeg: bytes | None = await _call(found[1].snapshot.remote(camera_id, width))
        except (RayError, TimeoutError):
            return None
        return jpeg

    @contextlib.asynccontextmanager
    async def live(self, camera_id: str, *, main: bool, from_cache: bool, buffer_seconds: float,
                   rendition_width: int | None = None) -> AsyncIterator[LiveFeed | None]:
        camera = self.registry.get(camera_id)
        if camera is None or not camera.enabled:
            yield None
            return
        found = self._owner(camera_id)
        if found is None:  # not placed yet: a feed that ends at once, so the page comes back in a moment
            yield _RemoteFeed(self, Assignment(camera_id=camera_id, worker="", epoch=0), None, None)
            return
        owner, actor = found
        feed_id = await self._open_on_owner(owner, actor, (camera_id, main, from_cache, buffer_seconds,
                                                           rendition_width))
        feed = _RemoteFeed(self, owner, actor, feed_id)
        try:
            yield feed
        finally:
            await feed.close()

    async def _open_on_owner(self, owner: Assignment, actor: Any, args: tuple[Any, ...]) -> str | None:
        """The worker's feed id. A camera placed a moment ago has no session on its new worker until the
        worker's ``assign`` has run: ask again for a few seconds (while it stays the owner) rather than end the
        view at once and have the page reconnect in a loop."""
        deadline = time.monotonic() + LIVE_OPEN_WAIT
        while True:
            try:
                feed_id: str | None = await _call(actor.open_live.remote(*args))
            except (RayError, TimeoutError):
                return None
            if (feed_id is not None or time.monotonic() >= deadline
                    or self.scheduler.owner(owner.camera_id) != owner):
                return feed_id
            await asyncio.sleep(0.25)

    async def recent_clip(self, camera_id: str, seconds: float) -> Clip:
        found = self._owner(camera_id)
        if found is None:
            raise LookupError(camera_id)
        try:
            answer: ClipAnswer = await _call(found[1].recent_clip.remote(camera_id, seconds), 30.0)
        except (RayError, TimeoutError) as exc:
            raise ClipUnavailable(f"the camera's worker did not answer ({type(exc).__name__})") from None
        if answer.clip is not None:
            return answer.clip
        if answer.missing:
            raise LookupError(camera_id)
        raise ClipUnavailable(answer.unavailable or "no video in memory")

    # -- analytics ----------------------------------------------------------------------------------------------
    async def overlay(self, camera_id: str) -> Overlay:
        found = self._owner(camera_id)
        if found is None:
            return Overlay()
        try:
            overlay: Overlay = await _call(found[1].overlay.remote(camera_id))
        except (RayError, TimeoutError):
            return Overlay()
        return overlay

    def recent_events(self) -> list[EventChange]:
        return self.ingress.recent()

    def evidence_owner(self, name: str) -> str | None:
        return self.ingress.evidence_owner(name)

    def evidence_health(self) -> EvidenceHealth:
        return self.ingress.evidence_store.health()  # the control plane's evidence directory

    def subscribe_events(self, listener: EventListener) -> None:
        self.ingress.listeners.append(listener)

    def subscribe_batches(self, listener: BatchListener) -> None:
        self._batch_listeners.append(listener)

    def subscribe_segments(self, listener: SegmentListener) -> None:
        self._segment_listeners.append(listener)

    def check_place(self, check: PlaceCheck) -> bool:
        found = self._owner(check.camera_id)
        analysed = any(s.analysed for s in self.camera_statuses_now() if s.id == check.camera_id)
        if found is None or not analysed:
            return False
        found[1].check_place.remote(check)  # a command: the worker's analyzer watches the place from now on
        return True

    def hold_rules(self, camera_id: str, held: bool) -> bool:
        """Told to the camera's worker, not awaited. A camera placed on another worker meanwhile starts there with
        its rules running (the scene guard still pauses them while the view is off its preset)."""
        found = self._owner(camera_id)
        if found is None:
            return False
        found[1].hold_rules.remote(camera_id, held)
        return True

    def use_model(self, card: Path) -> bool:
        """The supervisor tells every worker whose report names another card, from its next pass on, and again
        a worker Ray restarted or a node that joined (they start with the card the site had at start-up).
        A following replica only keeps the card: the supervising one hears of the promotion from the
        configuration relay and switches the workers."""
        if not self.analytics_enabled:
            return False
        self.pool.model = str(card.resolve())
        self.pool.kick()
        return True

    def model_in_service(self) -> Path | None:
        models = {Path(r.model).resolve() for r in self._reports.values() if r.model and r.worker in
                  {slot.key for slot in self.pool.slots()}}
        return models.pop() if len(models) == 1 else None

    def analytics_counters(self) -> AnalyticsCounters | None:
        """The workers' totals; those of departed workers (and of processes Ray replaced) stay counted, so the
        cluster's counters never fall (``wall.cluster.ledger``)."""
        return self.ledger.total(slot.key for slot in self.pool.slots())

    def cluster_view(self) -> ClusterView:
        """Nodes and workers from the supervisor's last pass and the workers' last reports: a scrape never
        waits for a worker (a hung one shows its last report, ageing)."""
        now = time.monotonic()
        workers = []
        for slot in self.pool.slots():
            report = slot.report
            if report is None or slot.reported_at is None:
                continue  # starting: nothing reported yet
            usage, use = report.usage, report.detector_actor
            workers.append(WorkerView(
                worker=slot.key, node_id=report.node_id, node_ip=report.node_ip or None, pid=report.pid,
                incarnation=report.incarnation, restarts=slot.restarts, cameras=len(report.owned),
                cpu_seconds=usage.cpu_seconds if usage else 0.0, rss_bytes=usage.rss_bytes if usage else 0,
                detector_waiting=report.detector_waiting, pending_events=report.pending_events,
                report_age_seconds=now - slot.reported_at, available=slot.unavailable_since is None,
                detector_actor=use.actor if use else None, detector_actor_looks=use.looks if use else 0,
                detector_fallbacks=use.fallbacks if use else 0))
        return ClusterView(nodes=list(self.pool.nodes), workers=workers, supervising=self.pool.leading)


def _placement(report: WorkerReport) -> Placement:
    return Placement(worker=report.worker, node_id=report.node_id, node_ip=report.node_ip or None)
