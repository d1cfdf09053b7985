"""``CameraWorker``: one Ray actor running a shard of a site's cameras with the single-box ``LocalRuntime``.

The same code as one box — ingest, ring, live remux, samplers, detector, rules — so a camera behaves the same
wherever it runs; what a worker adds is the cluster's bookkeeping:

- it runs exactly the cameras the control plane assigned to it (``assign``/``release``), each under the epoch
  of that assignment, and tags every event change with it;
- evidence is written to a private temporary directory and its bytes travel with the change: the control
  plane's evidence store is the one that counts, a worker's disk is disposable;
- event changes wait in a bounded queue until the control plane has acknowledged them (``pull(after=seq)``), so
  a control plane that lost a batch in flight gets it again (the case desk ignores what it already has);
- live views are opened, read and closed by id; one not read for ``LIVE_IDLE_SECONDS`` (its viewer's control
  plane went away) is closed by the worker itself;
- it is a detached named actor: it keeps its cameras running while the control plane restarts, reports what
  it runs (epochs and config fingerprints) so the new one re-attaches, and ends after ``ORPHAN_SECONDS``
  without any control plane;
- Ray restarts it in place when its process dies (``max_restarts``): the new process is a new *incarnation*
  with no cameras, which its reports and pulls say, so the control plane tells it again what it runs.

It is an async actor: the live feeds and the event queue live on its event loop, and whatever blocks (starting
or stopping a session) runs in a thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import logging
import os
import shutil
import tempfile
import threading
import time
import uuid
from collections import deque
from pathlib import Path

from ray.exceptions import RayError

from streams.config import CameraConfig
from streams.ring import ClipUnavailable
from vision.card import load_card
from vision.detector import Detector
from vision.events import EventChange
from vision.rules_config import CameraRules
from wall.cluster.detector import PlacedDetector, RemoteDetector
from wall.cluster.messages import (
    ClipAnswer,
    EventBatch,
    EvidenceFile,
    ProcessUsage,
    WorkerEvent,
    WorkerReport,
    fingerprint,
)
from wall.cluster_settings import DetectorActorSettings
from wall.config import SiteConfig
from wall.logs import configure_logging, default_format
from wall.runtime.interface import LiveFeed
from wall.runtime.local import LocalRuntime
from wall.runtime.models import CameraStatus, LiveItem, Overlay, PlaceCheck, RecordedSegment
from wall.runtime.registry import CameraAdded, CameraChanged, CameraRegistry, RulesChanged

log = logging.getLogger(__name__)
# Unacknowledged event changes kept (clips are megabytes): past either bound the oldest go first, logged.
EVENT_QUEUE, EVENT_QUEUE_BYTES = 1000, 256 * 1024**2
PULL_BATCH = 20  # changes per pull: one answer stays a few clips large
LIVE_IDLE_SECONDS = 30.0
MODEL_SWITCH_SECONDS = 60.0  # a detector actor loading a new card (a TensorRT engine may be built first)
ORPHAN_SECONDS = 300.0  # no control plane for this long: the worker stops its cameras and ends
PULL_POLL_SECONDS = 0.1
SEGMENT_RESEND_SECONDS = 120.0  # a closed recording segment rides on every report this long (see WorkerReport)


def shard_site(site: SiteConfig, evidence_root: Path) -> SiteConfig:
    """The site as one worker runs it: no cameras until assigned, no rules until then, data in ``evidence_root``
    (the worker's disk keeps nothing that must survive it)."""
    server = site.server_file.server.model_copy(update={"data_dir": str(evidence_root)})
    recording = site.server_file.recording  # segments go to the site's storage (a shared mount), not the temp dir
    storage = recording.storage_root(site.directory, site.data_dir).resolve()
    recording = recording.model_copy(update={"storage_dir": str(storage)})
    analytics = site.analytics.model_copy(update={"cameras": {}}) if site.analytics is not None else None
    return dataclasses.replace(site, cameras=[], analytics=analytics,
                               server_file=site.server_file.model_copy(update={"server": server,
                                                                               "recording": recording}))


def process_usage() -> ProcessUsage:
    """This process' CPU time and resident memory, from the process itself (``/proc`` on Linux; elsewhere the
    peak RSS ``getrusage`` knows), so the control plane needs no access to the worker's node."""
    rss = 0
    try:
        rss = int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        import resource

        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return ProcessUsage(cpu_seconds=time.process_time(), rss_bytes=rss)


class CameraWorker:
    def __init__(self, site: SiteConfig, name: str, node_id: str, node_ip: str = "",
                 detector: PlacedDetector | None = None) -> None:
        # The data directory is this worker's own: an inherited CITYWALL_DATA_DIR (the image's /data) must not
        # send its evidence next to the control plane's.
        os.environ.pop("CITYWALL_DATA_DIR", None)
        configure_logging(default_format())  # redacted lines into Ray's log files of this node
        self.name, self.node_id, self.node_ip = name, node_id, node_ip
        self.incarnation = uuid.uuid4().hex[:12]
        prefix = f"citywall-{name}-"
        for left in Path(tempfile.gettempdir()).glob(prefix + "*"):  # a previous incarnation's, killed by a signal
            shutil.rmtree(left, ignore_errors=True)
        self._root = Path(tempfile.mkdtemp(prefix=prefix))
        self.runtime = LocalRuntime(shard_site(site, self._root), CameraRegistry([]), shared_storage=True)
        self.remote_detector = self._detect_remotely(site, detector)
        self.cameras: dict[str, CameraConfig] = {}
        self.rules: dict[str, CameraRules] = {}
        self.epochs: dict[str, int] = {}
        self._events: deque[WorkerEvent] = deque()
        self._queued_bytes = 0
        self._seq = itertools.count(1)
        self._lock = threading.Lock()  # the queue is filled from analytics threads, read on the event loop
        self._batches: deque[tuple[int, float]] = deque(maxlen=10_000)
        self._feeds: dict[str, tuple[LiveFeed, contextlib.AsyncExitStack, float]] = {}
        self._feed_ids = itertools.count(1)
        self._assigning = asyncio.Lock()  # one assignment change at a time: each may start or stop a session
        self._contacted = time.monotonic()
        self._watchdog: asyncio.Task[None] | None = None
        self.runtime.subscribe_events(self._on_event)
        self.runtime.subscribe_batches(lambda frames, seconds: self._batches.append((frames, seconds)))
        self._segments: deque[tuple[float, RecordedSegment]] = deque(maxlen=10_000)
        self.runtime.subscribe_segments(lambda segment: self._segments.append((time.monotonic(), segment)))
        self.runtime.start()
        log.info("camera worker %s started on node %s", name, node_id)

    def _detect_remotely(self, site: SiteConfig, detector: PlacedDetector | None) -> RemoteDetector | None:
        """Hand the looks to the node's detector actor (started by the pool) when there is one; the card's own
        detector stays, for the looks the actor does not answer."""
        analytics = self.runtime.analytics
        if detector is None or analytics is None:
            return None
        settings = site.server_file.cluster.detectors if site.server_file.cluster else DetectorActorSettings()
        remote = RemoteDetector(detector.actor, detector.name, analytics.detector, settings.timeout_seconds)
        analytics.detect_with(remote)
        log.info("camera worker %s detects with %s", self.name, detector.name)
        return remote

    # -- assignment ---------------------------------------------------------------------------------------------
    async def assign(self, camera: CameraConfig, rules: CameraRules, epoch: int) -> None:
        """Run ``camera`` with ``rules`` under ``epoch``; for a camera already here, only what changed is
        applied (a new URL restarts the session, new rules start from the next look)."""
        async with self._assigning:
            self.epochs[camera.id] = epoch
            before = self.cameras.get(camera.id)
            old_rules = self.rules.get(camera.id)
            self.cameras[camera.id], self.rules[camera.id] = camera, rules
            if before is None:
                await asyncio.to_thread(self.runtime.apply, CameraAdded(camera=camera, rules=rules))
                return
            if before != camera:
                await asyncio.to_thread(self.runtime.apply, CameraChanged(before=before, camera=camera, rules=rules))
            if old_rules != rules:
                await asyncio.to_thread(self.runtime.apply, RulesChanged(camera=camera, rules=rules))

    async def release(self, camera_id: str) -> None:
        """Stop running the camera (it moved to another worker, or it was disabled)."""
        async with self._assigning:
            self.epochs.pop(camera_id, None)
            before = self.cameras.pop(camera_id, None)
            rules = self.rules.pop(camera_id, None) or CameraRules()
            if before is not None:
                off = before.model_copy(update={"enabled": False})
                await asyncio.to_thread(self.runtime.apply, CameraChanged(before=before, camera=off, rules=rules))

    async def report(self, take_batches: bool = True) -> WorkerReport:
        """What runs here now. ``take_batches``: hand over (and forget) the detector calls since the last report
        — only the supervising control plane does, so its histograms see each call once."""
        self._close_idle_feeds()
        batches = [self._batches.popleft() for _ in range(len(self._batches))] if take_batches else []
        while self._segments and self._segments[0][0] < time.monotonic() - SEGMENT_RESEND_SECONDS:
            self._segments.popleft()
        self._contact()
        fingerprints = {cam: fingerprint(camera, self.rules[cam]) for cam, camera in self.cameras.items()}
        analytics = self.runtime.analytics
        return WorkerReport(worker=self.name, node_id=self.node_id, node_ip=self.node_ip, pid=os.getpid(),
                            incarnation=self.incarnation, owned=dict(self.epochs), fingerprints=fingerprints,
                            statuses=self.runtime.camera_statuses_now(),
                            counters=self.runtime.analytics_counters(), batches=batches,
                            pending_events=len(self._events),
                            detector_actor=self.remote_detector.counters.model_copy()
                            if self.remote_detector else None,
                            detector_waiting=analytics.pipeline.waiting if analytics is not None else 0,
                            usage=process_usage(), segments=[segment for _, segment in list(self._segments)],
                            model=str(self.runtime.model_in_service() or ""))

    async def use_model(self, card: str) -> str:
        """Detect with the card at ``card`` from the next look on (a promotion or a rollback; the supervisor
        tells every worker whose report names another card, again after a restart). The node's detector actor
        switches first; one that does not answer leaves this worker detecting on its own CPU with the new card —
        never on the old one. Returns the card now in service ("" without analytics)."""
        analytics = self.runtime.analytics
        if analytics is None:
            return ""
        detector = await asyncio.to_thread(Detector, load_card(Path(card)))
        remote = self.remote_detector
        if remote is not None:
            try:
                await asyncio.wait_for(asyncio.wrap_future(remote.actor.use_model.remote(card).future()),
                                       MODEL_SWITCH_SECONDS)
                remote.local = detector
            except (RayError, TimeoutError) as exc:
                log.warning("camera worker %s: detector actor %s did not switch to %s (%s): detecting here",
                            self.name, remote.counters.actor, card, type(exc).__name__)
                self.remote_detector = remote = None
        await asyncio.to_thread(analytics.use_detector, detector, remote)
        return str(self.runtime.model_in_service() or "")

    def _contact(self) -> None:
        """A control plane is here (it polls reports and events); the first contact starts the orphan watch."""
        self._contacted = time.monotonic()
        if self._watchdog is None:
            self._watchdog = asyncio.get_running_loop().create_task(self._orphan_watch())

    async def _orphan_watch(self) -> None:
        """Workers outlive their control plane (a restarted one re-attaches without cutting any camera), but not
        forever: with no control plane for ``ORPHAN_SECONDS`` the cameras stop and the process ends."""
        while time.monotonic() - self._contacted < ORPHAN_SECONDS:
            await asyncio.sleep(min(10.0, ORPHAN_SECONDS))
        log.warning("camera worker %s: no control plane for %.0f s, stopping", self.name, ORPHAN_SECONDS)
        await self.stop()
        os._exit(0)  # a detached actor has no owner to end it: its process ends, Ray marks it dead

    async def stop(self) -> None:
        for feed_id in list(self._feeds):
            await self.close_live(feed_id)
        await asyncio.to_thread(self.runtime.stop)
        shutil.rmtree(self._root, ignore_errors=True)

    # -- events -------------------------------------------------------------------------------------------------
    def _on_event(self, change: EventChange) -> None:
        """From the analytics' threads: queue the change, as it is now, with its evidence bytes."""
        epoch = self.epochs.get(change.camera_id)
        if epoch is None:
            return  # a look finished after the camera was released: not ours to tell
        files: list[EvidenceFile] = []
        for kind, path in change.evidence.items():
            try:
                files.append(EvidenceFile(kind=kind, name=Path(path).name, data=Path(path).read_bytes()))
            except OSError:
                log.warning("evidence %s of event %s is gone", path, change.event_id)
        # A copy: the analytics keep changing their object (the clip is added later) while this one waits.
        sent = dataclasses.replace(change, evidence=dict(change.evidence), boxes=list(change.boxes),
                                   snapshot_jpeg=None, frame_jpeg=None)
        with self._lock:
            self._events.append(WorkerEvent(seq=next(self._seq), camera_id=change.camera_id, epoch=epoch,
                                            change=sent, files=files))
            self._queued_bytes += sum(len(f.data) for f in files)
            while len(self._events) > EVENT_QUEUE or self._queued_bytes > EVENT_QUEUE_BYTES:
                lost = self._forget_oldest()
                log.error("event %s of camera %s dropped: the control plane has not collected it",
                          lost.change.event_id, lost.camera_id)

    def _forget_oldest(self) -> WorkerEvent:
        event = self._events.popleft()
        self._queued_bytes -= sum(len(f.data) for f in event.files)
        return event

    async def pull(self, after: int, timeout: float, incarnation: str = "") -> EventBatch:
        """Forget what the control plane acknowledged (``seq`` ≤ ``after`` of ``incarnation``); return what is
        left, waiting up to ``timeout`` s for something. An acknowledgement of another incarnation (this
        process was restarted in place) acknowledges nothing here."""
        self._contact()
        if incarnation != self.incarnation:
            after = 0
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                while self._events and self._events[0].seq <= after:
                    self._forget_oldest()
                waiting = list(itertools.islice(self._events, PULL_BATCH))
            if waiting or time.monotonic() >= deadline:
                return EventBatch(incarnation=self.incarnation, events=waiting)
            await asyncio.sleep(PULL_POLL_SECONDS)

    # -- cameras ------------------------------------------------------------------------------------------------
    async def status(self, camera_id: str) -> CameraStatus | None:
        return await self.runtime.status(camera_id)

    async def snapshot(self, camera_id: str, width: int | None) -> bytes | None:
        return await self.runtime.snapshot(camera_id, width)

    async def overlay(self, camera_id: str) -> Overlay:
        return await self.runtime.overlay(camera_id)

    async def recent_clip(self, camera_id: str, seconds: float) -> ClipAnswer:
        try:
            return ClipAnswer(clip=await self.runtime.recent_clip(camera_id, seconds))
        except ClipUnavailable as exc:
            return ClipAnswer(unavailable=str(exc))
        except LookupError:
            return ClipAnswer(missing=True)

    async def check_place(self, check: PlaceCheck) -> bool:
        return self.runtime.check_place(check)

    async def hold_rules(self, camera_id: str, held: bool) -> bool:
        return self.runtime.hold_rules(camera_id, held)

    # -- live views ---------------------------------------------------------------------------------------------
    async def open_live(self, camera_id: str, main: bool, from_cache: bool, buffer_seconds: float,
                        rendition_width: int | None = None) -> str | None:
        """A live view's id, None when the camera has no session here. A rendition (``rendition_width``) is made
        on this worker, within this worker's own cap (``server.live.renditions`` counts per runtime)."""
        self._close_idle_feeds()
        stack = contextlib.AsyncExitStack()
        feed = await stack.enter_async_context(
            self.runtime.live(camera_id, main=main, from_cache=from_cache, buffer_seconds=buffer_seconds,
                              rendition_width=rendition_width))
        if feed is None:
            await stack.aclose()
            return None
        feed_id = f"{camera_id}:{next(self._feed_ids)}"
        self._feeds[feed_id] = (feed, stack, time.monotonic())
        return feed_id

    async def live_next(self, feed_id: str, timeout: float) -> list[LiveItem] | None:
        """The view's next batch (``LiveFeed.next``); None once it ended or was never opened here."""
        entry = self._feeds.get(feed_id)
        if entry is None:
            return None
        feed, stack, _ = entry
        self._feeds[feed_id] = (feed, stack, time.monotonic())
        items = await feed.next(timeout)
        if items is None:
            await self.close_live(feed_id)
        return items

    async def close_live(self, feed_id: str) -> None:
        entry = self._feeds.pop(feed_id, None)
        if entry is not None:
            await entry[1].aclose()

    def _close_idle_feeds(self) -> None:
        now = time.monotonic()
        for feed_id, (_feed, _stack, used) in list(self._feeds.items()):
            if now - used > LIVE_IDLE_SECONDS:
                log.info("live view %s not read for %.0f s: closed", feed_id, now - used)
                asyncio.get_running_loop().create_task(self.close_live(feed_id))
