"""Live analytics for a site: the hub's cameras → samplers → one detector pipeline → events with evidence.

The service keeps the latest event changes in memory (with their evidence on disk, named by content hash) and
tells listeners; the case desk that persists them and the wall's alarm pop-up build on this. Evidence clips are
cut from the camera's packet ring once the post-roll has arrived, by stream copy.

Per change: the annotated ``snapshot`` (the operator's), the clean ``frame`` (training's, opened and updated
only); per opened change also the ``clip`` of the raise, the ``arrival_clip`` (the candidate's first-seen window,
held since then by ``vision.evidence.ArrivalWindows`` because a dwell of minutes outlasts the ring; only when the
raise's own clip cannot show the arrival) and, for a camera with a ``main_url``, ``keyframe_main``: the main
stream's next keyframe at full resolution (the stream is opened for it, as for a maximised tile, and let go).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from streams.hub import CameraHub, MainStreams
from streams.ring import ClipUnavailable
from streams.sampler import FrameSampler
from streams.session import CameraSession
from streams.source import TimedPacket
from vision.analyzer import CameraAnalyzer
from vision.detector import Detector
from vision.events import EventChange
from vision.evidence import ArrivalWindows, EvidenceStore, EvidenceUnavailable, write_packets
from vision.pipeline import AnalysisPipeline, Detects
from vision.replay import CLIP_POST_SECONDS, CLIP_PRE_SECONDS
from vision.rules_config import CameraRules
from wall.config import SiteConfig

log = logging.getLogger(__name__)
SAMPLE_WIDTH = 640  # analysis resolution: the detectors' inputs are 320–640 px anyway
RECENT_EVENTS = 500
MAIN_KEYFRAME_WAIT = 20.0  # seconds the main stream has to connect and send a keyframe
MAIN_JPEG_QUALITY = 92


@dataclass
class _Clip:
    due: float  # monotonic
    change: EventChange
    arrival: list[TimedPacket] | None  # None: the raise's own clip shows the arrival
    session: CameraSession | None = None  # the session the arrival's packets came from


@dataclass
class _MainGrab:
    change: EventChange
    until: float  # monotonic
    session: CameraSession | None = None


class SiteAnalytics:
    def __init__(self, site: SiteConfig, hub: CameraHub, main_streams: MainStreams | None = None) -> None:
        assert site.analytics is not None and site.model_card is not None and site.catalogue is not None
        self.hub = hub
        self.evidence_dir = site.evidence_dir
        self.evidence_store = EvidenceStore(self.evidence_dir)
        self.detector = Detector(site.model_card)
        families = self.detector.card.families
        self.families, self.catalogue = families, site.catalogue
        self.analyzers = {
            cam_id: CameraAnalyzer(cam_id, rules, families, site.catalogue)
            for cam_id, rules in site.analytics.cameras.items() if hub.get(cam_id) is not None and rules.zones
        }
        self.pipeline = AnalysisPipeline(self.detector, self.analyzers, self._on_event)
        self.samplers: dict[str, FrameSampler] = {}
        self._attached: dict[str, CameraSession] = {}  # the session each sampler is attached to
        cameras = {c.id: c for c in site.cameras}
        for cam_id in self.analyzers:
            self.samplers[cam_id] = FrameSampler(cam_id, cameras[cam_id].analysis_interval, self.pipeline.submit,
                                                 width=SAMPLE_WIDTH,
                                                 max_interval=cameras[cam_id].analysis_max_interval)
        self.recent: deque[EventChange] = deque(maxlen=RECENT_EVENTS)
        self.listeners: list[Callable[[EventChange], object]] = []
        self._clips: list[_Clip] = []  # opened changes waiting for their post-roll
        self.main_streams = main_streams
        self._grabs: list[_MainGrab] = []  # opened changes waiting for a main-stream keyframe
        # per camera, with the session their packets came from: a stopped session's container is closed, and
        # stream-copying its packets then would crash FFmpeg, so windows never outlive their session
        self.arrivals: dict[str, tuple[CameraSession, ArrivalWindows]] = {}
        self._lock = threading.Lock()
        self._swap = threading.Lock()  # one rule change at a time (update_rules)
        self.held: set[str] = set()  # cameras a PTZ command turned off their analysis preset (hold)
        self._stop = threading.Event()
        self._clipper = threading.Thread(target=self._clip_loop, name="evidence-clips", daemon=True)

    def start(self) -> None:
        for cam_id, sampler in self.samplers.items():
            session = self.hub.get(cam_id)
            assert session is not None
            session.attach(sampler)
            self._attached[cam_id] = session
        self.pipeline.start()
        self._clipper.start()

    def stop(self) -> None:
        self._stop.set()
        self.pipeline.stop()
        self._clipper.join(5)

    def detect_with(self, detector: Detects) -> None:
        """Detect with ``detector`` from the next look on (a cluster worker hands its node's detector actor
        here); ``self.detector`` stays the card's own, for the counters and as the fallback."""
        self.pipeline.detector = detector

    def use_detector(self, detector: Detector, detects: Detects | None = None) -> None:
        """Detect with ``detector`` (a promoted card's) from the next look on, without a restart: the counters
        and metrics name it, and every analysed camera gets an analyzer for its class families with the rules it
        runs now (``detects``: what the looks go to, where that is not the detector itself — a cluster worker's
        node detector actor, which switched card as well)."""
        self.detector, self.families = detector, detector.card.families
        self.detect_with(detects or detector)
        for camera_id, analyzer in list(self.analyzers.items()):
            self.update_rules(camera_id, analyzer.rules)
        log.info("detector switched to %s without a restart", detector.card.display_name)

    def update_rules(self, camera_id: str, rules: CameraRules) -> bool:
        """Run ``rules`` on one camera from its next look on, without a restart (the admin's zone editor saves
        analytics.yaml, then calls this); also after the camera's session was replaced (a new URL).

        The camera gets a new analyzer (dwell clocks start again: a place's history under other zones means
        nothing under the new ones) and a new sampler on the camera's current session, at the camera's current
        analysis interval. Video checks of dispatched cases on zones that still exist carry over. The dicts the
        pipeline and the metrics read are replaced, never changed in place, so their threads never see one half
        done; the new analyzer is in place before its sampler delivers a frame. Returns whether the camera is
        analysed now (it has zones and an enabled session)."""
        with self._swap:
            session = self.hub.get(camera_id)
            old_analyzer = self.analyzers.get(camera_id)
            old_sampler = self.samplers.get(camera_id)
            analyzers, samplers = dict(self.analyzers), dict(self.samplers)
            analysed = session is not None and bool(rules.zones)
            sampler: FrameSampler | None = None
            if analysed:
                assert session is not None and self.catalogue is not None
                analyzer = CameraAnalyzer(camera_id, rules, self.families, self.catalogue)
                analyzer.held = camera_id in self.held  # new zones, same view: still off the preset
                if old_analyzer is not None:
                    zones = {zone.id for zone in rules.zones}
                    analyzer.watches = [w for w in old_analyzer.watches if w.zone_id in zones]
                analyzers[camera_id] = analyzer
                sampler = FrameSampler(camera_id, session.camera.analysis_interval, self.pipeline.submit,
                                       width=SAMPLE_WIDTH, max_interval=session.camera.analysis_max_interval)
                samplers[camera_id] = sampler
            else:
                analyzers.pop(camera_id, None)
                samplers.pop(camera_id, None)
            attached = self._attached.pop(camera_id, None)  # maybe a stopped session that a new URL replaced
            if old_sampler is not None and attached is not None:
                attached.detach(old_sampler)
            self.analyzers = self.pipeline.analyzers = analyzers
            self.samplers = samplers
            if sampler is not None and session is not None:
                session.attach(sampler)
                self._attached[camera_id] = session
        log.info("analytics rules of camera %s changed: %d zones, %s", camera_id, len(rules.zones),
                 "analysed" if analysed else "not analysed", extra={"camera": camera_id})
        return analysed

    def hold(self, camera_id: str, held: bool) -> bool:
        """Pause (``held``) or resume a camera's rules while PTZ has it off its analysis preset; kept across
        rule changes. Returns whether the camera is analysed."""
        with self._swap:
            (self.held.add if held else self.held.discard)(camera_id)
            analyzer = self.analyzers.get(camera_id)
            if analyzer is not None:
                analyzer.held = held
        return analyzer is not None

    def evidence(self, name: str) -> tuple[Path, str] | None:
        """(file, camera id) of an evidence file by its content-hash name, if an event in memory refers to it."""
        with self._lock:
            for change in self.recent:
                for path in change.evidence.values():
                    if Path(path).name == name:
                        return Path(path), change.camera_id
        return None

    def _on_event(self, change: EventChange) -> None:
        pictures = {"after_snapshot" if change.kind == "cleared" else "snapshot": change.snapshot_jpeg,
                    "frame": change.frame_jpeg}
        for key, data in pictures.items():
            if not data:
                continue
            try:
                change.evidence[key] = str(self.evidence_store.put(data, ".jpg"))
            except EvidenceUnavailable as exc:  # the case is raised without it, and says so
                change.missing_evidence[key] = exc.reason
                log.error("evidence %s of event %s not written: %s", key, change.event_id, exc.reason,
                          extra={"camera": change.camera_id})
        # The pictures are in the evidence store now (their paths in change.evidence): the change is kept among
        # the recent ones for a while, and the bytes with it would hold ~80 KB per change for nothing.
        change.snapshot_jpeg = change.frame_jpeg = None
        if change.kind == "opened":
            change.clip_window = (change.first_seen - CLIP_PRE_SECONDS, change.t + CLIP_POST_SECONDS)
            # due by the monotonic clock: a wall clock stepped back an hour must not hold the clip until the
            # ring no longer has it, nor one stepped forward cut it before its post-roll arrived
            due = time.monotonic() + min(CLIP_POST_SECONDS + 5, max(0.0, change.t + CLIP_POST_SECONDS - time.time()))
            session = self.hub.get(change.camera_id)
            windows = self._windows(change.camera_id, session) if session is not None else None
            arrival = windows.claim(change.zone_id, change.place, change.first_seen, change.t, session.ring) \
                if windows is not None and session is not None else None
            with self._lock:
                self._clips.append(_Clip(due, change, arrival, session))
        self._publish(change)
        session = self.hub.get(change.camera_id)
        if change.kind == "opened" and self.main_streams is not None and session is not None and \
                session.camera.main_url:  # after publishing: the clip thread adds to the change from now on
            with self._lock:
                self._grabs.append(_MainGrab(change, time.monotonic() + MAIN_KEYFRAME_WAIT))

    def _publish(self, change: EventChange, announce: bool = True) -> None:
        with self._lock:
            if change not in self.recent:
                self.recent.append(change)
        if announce:
            log.info("event %s %s camera=%s zone=%s code=%s place=%s", change.kind, change.event_id,
                     change.camera_id, change.zone_id, change.code, change.place, extra={"camera": change.camera_id})
        for listener in list(self.listeners):
            try:
                listener(change)
            except Exception:
                log.exception("event listener failed")

    def _clip_loop(self) -> None:
        while not self._stop.wait(1.0):
            now = time.monotonic()
            for cam_id in [c for c in self.arrivals if c not in self.analyzers]:
                self.arrivals.pop(cam_id, None)  # no longer analysed: its held windows go
            for cam_id, analyzer in list(self.analyzers.items()):
                session = self.hub.get(cam_id)
                if session is not None:
                    self._windows(cam_id, session).follow(analyzer.candidates, time.time(), session.ring)
            with self._lock:
                due = [c for c in self._clips if c.due <= now]
                self._clips = [c for c in self._clips if c.due > now]
            for clip in due:
                self._write_clip(clip)
            self._grab_main_keyframes()
            self.evidence_store.probe()  # a failing disk is noticed back without waiting for the next event
        with self._lock:
            grabs, self._grabs = self._grabs, []
        for grab in grabs:
            if grab.session is not None and self.main_streams is not None:
                self.main_streams.release(grab.change.camera_id)

    def _windows(self, camera_id: str, session: CameraSession) -> ArrivalWindows:
        held = self.arrivals.get(camera_id)
        if held is None or held[0] is not session:
            held = self.arrivals[camera_id] = (session, ArrivalWindows(CLIP_PRE_SECONDS, CLIP_POST_SECONDS))
        return held[1]

    def _grab_main_keyframes(self) -> None:
        """Open the main stream of each camera that raised (as a maximised tile does) and keep its first keyframe
        from the raise on, at full resolution; let the stream go once it came or the wait is over."""
        if self.main_streams is None:
            return
        with self._lock:
            grabs = list(self._grabs)
        for grab in grabs:
            change = grab.change
            if grab.session is None:
                grab.session = self.main_streams.acquire(change.camera_id)
            key = grab.session.ring.latest_keyframe() if grab.session is not None else None
            data = None
            if grab.session is not None and key is not None and key.wall >= change.t - 1.0:
                data = grab.session.snapshot_jpeg(quality=MAIN_JPEG_QUALITY)
            if data is None and time.monotonic() < grab.until and grab.session is not None:
                continue
            with self._lock:
                self._grabs.remove(grab)
            if grab.session is not None:
                self.main_streams.release(change.camera_id)
            try:
                if data is None:
                    raise EvidenceUnavailable(f"the main stream sent no keyframe within {MAIN_KEYFRAME_WAIT:.0f} s")
                change.evidence["keyframe_main"] = str(self.evidence_store.put(data, ".jpg"))
            except EvidenceUnavailable as exc:
                change.missing_evidence["keyframe_main"] = exc.reason
                log.warning("no main-stream keyframe for event %s: %s", change.event_id, exc.reason,
                            extra={"camera": change.camera_id})
            self._publish(change, announce=False)

    def _write_clip(self, clip: _Clip) -> None:
        change = clip.change
        session = self.hub.get(change.camera_id)
        if session is None or change.clip_window is None:
            return
        if clip.arrival and session is not clip.session:
            change.missing_evidence["arrival_clip"] = "the camera's stream was restarted before the clip was cut"
        elif clip.arrival:
            arrival = clip.arrival
            try:
                path = self.evidence_store.write_with(f"arrival-{change.event_id}.mp4",
                                                      lambda tmp: write_packets(tmp, arrival))
                change.evidence["arrival_clip"] = str(path)
            except EvidenceUnavailable as exc:
                change.missing_evidence["arrival_clip"] = exc.reason
            except Exception:
                change.missing_evidence["arrival_clip"] = "the arrival clip could not be written"
                log.exception("writing the arrival clip of event %s failed", change.event_id)
        elif clip.arrival is not None:
            change.missing_evidence["arrival_clip"] = "the arrival was not held (more candidates than windows, or " \
                "no longer in the camera's memory)"
        window = change.clip_window
        try:
            path = self.evidence_store.write_with(f"clip-{change.event_id}.mp4",
                                                  lambda tmp: session.ring.write_clip(tmp, *window))
            change.evidence["clip"] = str(path)
        except EvidenceUnavailable as exc:
            change.missing_evidence["clip"] = exc.reason
            log.error("evidence clip of event %s not written: %s", change.event_id, exc.reason,
                      extra={"camera": change.camera_id})
        except ClipUnavailable as exc:
            change.missing_evidence["clip"] = "no video of the event in the camera's memory"
            log.warning("no clip for event %s: %s", change.event_id, exc, extra={"camera": change.camera_id})
        except Exception:
            change.missing_evidence["clip"] = "the clip could not be cut"
            log.exception("writing the clip of event %s failed", change.event_id)
        log.info("evidence clip of event %s: %s", change.event_id, change.evidence.get("clip", "none"))
        self._publish(change, announce=False)  # listeners learn that the clip is there (or why it is not)
