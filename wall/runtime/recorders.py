"""The recorders of the cameras this runtime runs: one ``streams.recorder.Recorder`` per recording camera,
attached to its session, re-attached when the session is replaced, and told about the camera's events.

A helper of ``LocalRuntime`` (the only code that touches sessions): it resolves each camera's recording plan
(its own ``recording:`` block, its group's, the site's), starts a recorder when the plan records and stops it
when it no longer does, arms the events mode when the analytics open or update an event of the camera, and turns
each closed segment into the seam's ``RecordedSegment`` for the runtime's listeners (the recording service
writes the index). A camera worker of a cluster runs one of these too, inside its own ``LocalRuntime``.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from streams.hub import CameraHub, MainStreams
from streams.recorder import Recorder
from streams.segments import SegmentInfo
from streams.session import CameraSession
from vision.events import EventChange
from wall.recording_settings import RecordingSettings
from wall.runtime import recording_storage
from wall.runtime.interface import SegmentListener
from wall.runtime.models import RecordedSegment, RecordingStatus

log = logging.getLogger(__name__)

ARMING_KINDS = ("opened", "updated", "still_present")  # the event is there: keep recording post_seconds more


@dataclass
class _Running:
    recorder: Recorder
    session: CameraSession  # the camera's session when it started: a replaced one means start again
    source: CameraSession  # where its packets come from: that session, or the camera's main stream (held open)

    def detach(self, main_streams: MainStreams | None) -> None:
        self.source.detach(self.recorder)
        if self.source is not self.session and main_streams is not None:
            main_streams.release(self.session.id)  # the main stream closes when nobody else watches it


class Recorders:
    def __init__(self, settings: RecordingSettings, root: Path, hub: CameraHub, *, shared: bool = False,
                 main_streams: MainStreams | None = None) -> None:
        self.settings = settings
        self.root = root
        self.hub = hub
        self.main_streams = main_streams  # ``stream: main`` records a camera's main stream, opened for it
        # a cluster worker (``shared``) records only into the control plane's storage (recording_storage.py)
        self.shared = shared
        self._refused: tuple[str, float] | None = None
        self.listeners: list[SegmentListener] = []
        self._running: dict[str, _Running] = {}
        self._lock = threading.Lock()

    def start(self) -> None:
        for session in self.hub:
            self.put(session.id)

    def stop(self) -> None:
        with self._lock:
            running, self._running = list(self._running.values()), {}
        for entry in running:
            entry.detach(self.main_streams)
            entry.recorder.stop(wait=0)  # all told first, so the cameras' last segments close in parallel
        for entry in running:
            entry.recorder.stop()

    def put(self, camera_id: str) -> None:
        """Bring the camera's recorder in line with its session and plan (after any change of the camera)."""
        session = self.hub.get(camera_id)
        plan = self.settings.plan_for(session.camera) if session is not None else None
        if plan is not None and plan.mode != "off" and self._refuse():
            plan = None  # the storage is not the shared one: status() says so for each recording camera
        with self._lock:
            entry = self._running.get(camera_id)
            main = session is not None and plan is not None and self._records_main(session, plan.stream)
            if (entry is not None and session is entry.session and plan is not None and plan.mode != "off"
                    and (entry.source is not entry.session) == main):
                entry.recorder.plan = plan  # read by the camera thread per packet: swapped whole
                return
            if entry is not None:
                del self._running[camera_id]
            running: _Running | None = None
            if session is not None and plan is not None and plan.mode != "off":
                source = (self.main_streams.acquire(camera_id) if main and self.main_streams else None) or session
                running = _Running(Recorder(camera_id, self.root, plan, source.ring, self._publish), session, source)
                self._running[camera_id] = running
        if entry is not None:
            entry.detach(self.main_streams)
            entry.recorder.stop()  # closes and indexes its open segment
        if running is not None:
            running.recorder.start()
            running.source.attach(running.recorder)

    def on_event(self, change: EventChange) -> None:
        """Events mode: an event of the camera is there, so record from pre_seconds ago to post_seconds on."""
        if change.kind not in ARMING_KINDS:
            return
        entry = self._running.get(change.camera_id)
        if entry is not None and entry.recorder.plan.mode == "events":
            entry.recorder.trigger(time.time() + entry.recorder.plan.post_seconds)

    def _records_main(self, session: CameraSession, stream: str) -> bool:
        """``stream: main`` on a camera that has a main stream (others record their one stream)."""
        return stream == "main" and bool(session.camera.main_url) and self.main_streams is not None

    def _refuse(self) -> bool:
        """Whether this worker's storage is not the control plane's (looked at again for every camera placed
        here, so a mount that appears later is used from the next placement on)."""
        if not self.shared:
            return False
        why = recording_storage.problem(self.root)
        if why is None:
            self._refused = None
            return False
        if self._refused is None or self._refused[0] != why:
            log.error("%s", why)
            self._refused = (why, time.time())
        return True

    def status(self, camera_id: str) -> RecordingStatus | None:
        entry = self._running.get(camera_id)
        if entry is None and self._refused is not None:
            session = self.hub.get(camera_id)
            plan = self.settings.plan_for(session.camera) if session is not None else None
            if plan is not None and plan.mode != "off":
                why, at = self._refused
                return RecordingStatus(mode=plan.mode, state="failing", last_error=why, last_error_kind="not_shared",
                                       last_error_at=at, segments=0, bytes_written=0, dropped=0, write_seconds=0.0)
        if entry is None:
            return None
        h = entry.recorder.health()
        return RecordingStatus(mode=h.mode, state=h.state, last_error=h.last_error, last_error_kind=h.last_error_kind,
                               last_error_at=h.last_error_at, segments=h.segments, bytes_written=h.bytes_written,
                               dropped=h.dropped, write_seconds=h.write_seconds)

    def _publish(self, info: SegmentInfo) -> None:  # a recorder's thread
        segment = RecordedSegment(camera_id=info.camera_id, path=info.relative, start=info.start, end=info.end,
                                  frames=info.frames, keyframes=info.keyframes, size=info.size, codec=info.codec,
                                  width=info.width, height=info.height, params=info.params, reason=info.reason)
        for listener in list(self.listeners):
            try:
                listener(segment)
            except Exception:
                log.exception("segment listener failed for camera %s", info.camera_id)
