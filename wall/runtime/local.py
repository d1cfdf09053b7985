"""``LocalRuntime``: every camera in this process — the hub's sessions, main streams on demand, the analytics.

The single-box implementation of ``CameraRuntime`` and the only module of ``wall/`` (with its helpers in this
package) that touches ``CameraHub``, ``CameraSession`` or ``SiteAnalytics``. What could block the event loop
(a JPEG encode, a clip remux, a session restart) runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

from anyio.to_thread import run_sync

from settings.secrets import public_error
from streams.hub import CameraHub, MainStreams
from streams.remux import Fragment, InitSegment, LiveViewer
from streams.rendition import CODEC as RENDITION_CODEC
from streams.rendition import Rendition
from streams.renditions import RenditionRegistry, RenditionsFull, snap_width
from streams.session import CameraSession
from vision.card import load_card
from vision.detector import Detector
from vision.events import EventChange
from vision.evidence import EvidenceHealth
from wall.config import SiteConfig
from wall.runtime.analytics import SiteAnalytics
from wall.runtime.interface import BatchListener, CameraRuntime, EventListener, LiveFeed, SegmentListener
from wall.runtime.models import (
    AnalyticsCounters,
    CameraStatus,
    Clip,
    DetectorCounters,
    Health,
    LiveFragment,
    LiveInit,
    LiveItem,
    LiveRefused,
    LiveState,
    Overlay,
    PipelineCounters,
    PlaceCheck,
    SamplerCounters,
)
from wall.runtime.recorders import Recorders
from wall.runtime.registry import CameraRegistry, RegistryChange, RulesChanged

log = logging.getLogger(__name__)


def _health(session: CameraSession) -> Health:
    health = session.health
    snap = health.snapshot()
    return Health.model_validate({**snap, "last_error": public_error(snap["last_error"]),
                                  "bytes": health.bytes, "keyframes": health.keyframes})


class _SessionFeed(LiveFeed):
    """One viewer of one session: a bounded LiveViewer woken from the camera thread.

    Cheap per frame, because a camera with 200 viewers runs this 200 times a frame: the camera thread sends the
    event loop at most one wake-up per viewer until the viewer has drained (not one per fragment), and the
    camera's health is built (a rate window, redaction, a model) only when its state has changed.

    With ``rendition`` the viewer watches the camera's shared H.264 rendition instead of its own stream (the
    session still says the camera's state); with ``refused`` it watches nothing and says why first."""

    def __init__(self, session: CameraSession, buffer_seconds: float, from_cache: bool, *,
                 rendition: Rendition | None = None, refused: str | None = None) -> None:
        self.session = session
        self.rendition = rendition
        self.refused = refused
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._signalled = False  # a wake-up is on its way to the loop: the camera thread need not send another
        self.viewer = LiveViewer(buffer_seconds, notify=self._notify, from_cache=from_cache)
        self._last_state: str | None = None

    def _notify(self) -> None:  # the camera thread
        if not self._signalled:
            self._signalled = True
            self._loop.call_soon_threadsafe(self._woken)

    def _woken(self) -> None:  # the event loop
        self._signalled = False
        self._wake.set()

    async def next(self, timeout: float) -> list[LiveItem] | None:
        if self.session.stopped:
            return None
        items = self._items()
        if not items:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)
            self._wake.clear()
            items = self._items()
        return items

    def _items(self) -> list[LiveItem]:
        out: list[LiveItem] = []
        if self.refused is not None:
            out.append(LiveRefused(camera_id=self.session.id, reason=self.refused))
            self.refused = None
        if self.session.health.current_state().value != self._last_state:
            health = _health(self.session)
            self._last_state = health.state
            out.append(LiveState(camera_id=self.session.id, state=health.state, last_error=health.last_error,
                                 fps=health.fps, bitrate_kbps=health.bitrate_kbps))
        for item in self.viewer.drain():
            if isinstance(item, InitSegment):
                out.append(LiveInit(camera_id=self.session.id, mime=item.mime, codec=item.codec,
                                    width=item.width, height=item.height, data=item.data,
                                    rendition=RENDITION_CODEC if self.rendition is not None else None))
            elif isinstance(item, Fragment):
                out.append(LiveFragment(data=item.data))
        return out


class LocalRuntime(CameraRuntime):
    def __init__(self, site: SiteConfig, registry: CameraRegistry, hub: CameraHub | None = None, *,
                 shared_storage: bool = False) -> None:
        """``shared_storage``: a cluster worker's runtime, which records only into the control plane's storage."""
        self.registry = registry
        self.hub = hub or CameraHub(registry.cameras(), site.server_file.streams)
        self.main_streams = MainStreams(self.hub)  # a maximised tile's high-resolution stream, opened on demand
        self.analytics = SiteAnalytics(site, self.hub, self.main_streams) if site.analytics is not None else None
        self.analytics_enabled = self.analytics is not None
        # H.264 of H.265 cameras for browsers without an HEVC decoder: shared per camera and width, capped per box
        live = site.server_file.server.live
        self.renditions = RenditionRegistry(live.renditions, live.rendition_kbps)
        recording = site.server_file.recording  # 录像: cameras whose plan records, into the storage root
        self.recorders = Recorders(recording, recording.storage_root(site.directory, site.data_dir), self.hub,
                                   shared=shared_storage, main_streams=self.main_streams)
        if self.analytics is not None:
            self.analytics.listeners.append(self.recorders.on_event)  # events mode: an event arms the recorder

    # -- lifecycle ----------------------------------------------------------------------------------------------
    def start(self) -> None:
        self.hub.start()
        self.recorders.start()
        if self.analytics is not None:
            self.analytics.start()

    def stop(self) -> None:
        if self.analytics is not None:
            self.analytics.stop()
        self.renditions.stop()
        self.main_streams.stop()
        self.recorders.stop()  # each closes (and indexes) its open segment
        self.hub.stop()

    def apply(self, change: RegistryChange) -> None:
        camera = change.camera
        if isinstance(change, RulesChanged):
            if self.analytics is not None:
                self.analytics.update_rules(camera.id, change.rules)
            return
        before = self.hub.get(camera.id)
        old_interval = before.camera.analysis_interval if before is not None else None
        _session, restarted = self.hub.put(camera)
        self.recorders.put(camera.id)  # a new session or a new recording block
        if self.analytics is not None and (restarted or old_interval != camera.analysis_interval):
            self.analytics.update_rules(camera.id, change.rules)  # on the new session, at the new interval

    # -- cameras ------------------------------------------------------------------------------------------------
    def _status(self, session: CameraSession) -> CameraStatus:
        analyzer = self.analytics.analyzers.get(session.id) if self.analytics is not None else None
        sampler = self.analytics.samplers.get(session.id) if self.analytics is not None else None
        counters = None if sampler is None else SamplerCounters(
            decode_seconds=sampler.decode_seconds, decoded=sampler.decoded, skipped=sampler.skipped,
            emitted=sampler.emitted)
        renditions, rendition_viewers = self.renditions.count(session.id)
        return CameraStatus(id=session.id, health=_health(session), viewers=session.remux.viewer_count,
                            analysed=analyzer is not None, scene_moved=bool(analyzer and analyzer.scene_moved),
                            sampler=counters, renditions=renditions, rendition_viewers=rendition_viewers,
                            recording=self.recorders.status(session.id))

    def camera_statuses_now(self) -> list[CameraStatus]:
        return [self._status(session) for session in self.hub]

    async def statuses(self) -> list[CameraStatus]:
        return self.camera_statuses_now()

    async def status(self, camera_id: str) -> CameraStatus | None:
        session = self.hub.get(camera_id)
        return None if session is None else self._status(session)

    async def snapshot(self, camera_id: str, width: int | None = None) -> bytes | None:
        session = self.hub.get(camera_id)
        if session is None:
            return None
        return await run_sync(session.snapshot_jpeg, width)

    @contextlib.asynccontextmanager
    async def live(self, camera_id: str, *, main: bool, from_cache: bool, buffer_seconds: float,
                   rendition_width: int | None = None) -> AsyncIterator[LiveFeed | None]:
        session = self.hub.get(camera_id)
        if session is None:
            yield None
            return
        main_session = self.main_streams.acquire(camera_id) if main else None
        source = main_session or session
        rendition: Rendition | None = None
        refused: str | None = None
        if rendition_width is not None and source.health.codec != "h264":  # H.264 plays everywhere as it is
            try:
                rendition = self.renditions.acquire(source, snap_width(rendition_width, source.health.width),
                                                    main=main_session is not None)
            except RenditionsFull as exc:
                refused = str(exc)
                log.warning("live view of camera %s: %s", camera_id, refused, extra={"camera": camera_id})
        feed = _SessionFeed(source, buffer_seconds, from_cache, rendition=rendition, refused=refused)
        if rendition is not None:
            rendition.add_viewer(feed.viewer)
        elif refused is None:
            source.watch(feed.viewer)
        try:
            yield feed
        finally:
            if rendition is not None:
                rendition.remove_viewer(feed.viewer)
                self.renditions.release(rendition)
            elif refused is None:
                feed.session.unwatch(feed.viewer)
            log.debug("viewer of camera %s left after %d skips to a keyframe", camera_id, feed.viewer.skips,
                      extra={"camera": camera_id})
            if main_session is not None:
                self.main_streams.release(camera_id)

    async def recent_clip(self, camera_id: str, seconds: float) -> Clip:
        session = self.hub.get(camera_id)
        if session is None:
            raise LookupError(camera_id)

        def cut() -> Clip:
            with tempfile.TemporaryDirectory(prefix="citywall-clip-") as tmp:
                info = session.ring.write_last(Path(tmp) / "clip.mp4", seconds)
                return Clip(camera_id=camera_id, data=info.path.read_bytes(), start_wall=info.start_wall,
                            end_wall=info.end_wall, frames=info.frames, duration=info.duration,
                            analysis_interval=session.camera.analysis_interval,
                            analysis_max_interval=session.camera.analysis_max_interval)

        return await run_sync(cut)

    # -- analytics ----------------------------------------------------------------------------------------------
    async def overlay(self, camera_id: str) -> Overlay:
        analyzer = self.analytics.analyzers.get(camera_id) if self.analytics is not None else None
        return Overlay() if analyzer is None else Overlay.model_validate(analyzer.overlay())

    def recent_events(self) -> list[EventChange]:
        return list(self.analytics.recent) if self.analytics is not None else []

    def evidence_owner(self, name: str) -> str | None:
        found = self.analytics.evidence(name) if self.analytics is not None else None
        return found[1] if found is not None else None

    def subscribe_events(self, listener: EventListener) -> None:
        if self.analytics is not None:
            self.analytics.listeners.append(listener)

    def subscribe_batches(self, listener: BatchListener) -> None:
        if self.analytics is not None:
            self.analytics.pipeline.batch_observers.append(listener)

    def subscribe_segments(self, listener: SegmentListener) -> None:
        self.recorders.listeners.append(listener)

    def check_place(self, check: PlaceCheck) -> bool:
        analyzer = self.analytics.analyzers.get(check.camera_id) if self.analytics is not None else None
        if analyzer is None:
            return False
        analyzer.watch_place(check.event_id, check.zone_id, check.place_box, check.absent_seconds,
                             check.within_seconds, time.monotonic())
        return True

    def hold_rules(self, camera_id: str, held: bool) -> bool:
        return self.analytics.hold(camera_id, held) if self.analytics is not None else False

    def evidence_health(self) -> EvidenceHealth | None:
        return self.analytics.evidence_store.health() if self.analytics is not None else None

    def use_model(self, card: Path) -> bool:
        if self.analytics is None:
            return False
        self.analytics.use_detector(Detector(load_card(card)))
        return True

    def model_in_service(self) -> Path | None:
        return self.analytics.detector.card.card_path if self.analytics is not None else None

    def analytics_counters(self) -> AnalyticsCounters | None:
        if self.analytics is None:
            return None
        stats, detector = self.analytics.pipeline.stats, self.analytics.detector
        d = detector.stats
        return AnalyticsCounters(
            pipeline=PipelineCounters(frames_in=stats.frames_in, frames_analysed=stats.frames_analysed,
                                      frames_reused=stats.frames_reused, frames_dropped=stats.frames_dropped,
                                      events=stats.events, analyse_seconds=stats.analyse_seconds),
            detector=DetectorCounters(model=detector.card.display_name, providers=list(detector.providers),
                                      dynamic_batch=detector.dynamic_batch, frames=d.frames, runs=d.runs,
                                      inference_seconds=d.inference_seconds,
                                      preprocess_seconds=d.preprocess_seconds,
                                      postprocess_seconds=d.postprocess_seconds))
