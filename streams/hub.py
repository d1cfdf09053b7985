"""CameraHub: every configured camera's session, started and stopped together, looked up by id."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable

from streams.config import CameraConfig, StreamSettings
from streams.session import CameraSession


class CameraHub:
    def __init__(self, cameras: Iterable[CameraConfig], settings: StreamSettings | None = None) -> None:
        self.settings = settings or StreamSettings()
        self.sessions: dict[str, CameraSession] = {
            cam.id: CameraSession(cam, self.settings) for cam in cameras if cam.enabled
        }
        self._change = threading.Lock()

    def start(self) -> None:
        for session in self.sessions.values():
            session.start()

    def stop(self) -> None:
        for session in self.sessions.values():
            session.request_stop()  # signal all first so a slow one doesn't delay the others' shutdown
        for session in self.sessions.values():
            session.stop()

    def get(self, camera_id: str) -> CameraSession | None:
        return self.sessions.get(camera_id)

    def put(self, camera: CameraConfig) -> tuple[CameraSession | None, bool]:
        """Add or change one camera while the hub runs (the admin's camera editor).

        Only what changes the stream restarts it: a new ``url``, or switching the camera on or off, stops the old
        session (its own thread closes the connection) and starts a new one. A new name, group, address, main
        stream or analysis interval is swapped into the running session, so nobody watching loses the picture.
        ``sessions`` is replaced, never changed in place, so threads iterating the hub meanwhile are unaffected.
        Returns the camera's session (None when it is disabled) and whether a session was started or stopped.
        """
        with self._change:
            old = self.sessions.get(camera.id)
            if old is not None and camera.enabled and old.camera.url == camera.url:
                old.camera = camera
                return old, False
            sessions = dict(self.sessions)
            new = CameraSession(camera, self.settings) if camera.enabled else None
            if new is not None:
                sessions[camera.id] = new
            else:
                sessions.pop(camera.id, None)
            if old is not None:
                old.request_stop()
            self.sessions = sessions
            if new is not None:
                new.start()
        if old is not None:
            old.stop()  # waits for its thread (at most read_timeout): two connections overlap only that long
        return new, new is not None or old is not None

    def __iter__(self):
        return iter(self.sessions.values())

    def __len__(self) -> int:
        return len(self.sessions)


class MainStreams:
    """Main (high-resolution) streams opened on demand: a maximised tile asks for the camera's main stream, which
    costs the camera and the network several times the sub stream, so it is connected only while someone
    watches it and closed ``linger`` seconds after the last viewer left (a quick un-maximise/maximise reuses it).
    """

    def __init__(self, hub: CameraHub, linger: float = 30.0) -> None:
        self.hub = hub
        self.linger = linger
        self._sessions: dict[str, CameraSession] = {}
        self._users: dict[str, int] = {}
        self._idle_since: dict[str, float] = {}
        self._lock = threading.Lock()

    def acquire(self, camera_id: str) -> CameraSession | None:
        """The camera's main-stream session (started if needed), or None if the camera has no main stream."""
        sub = self.hub.get(camera_id)
        if sub is None or not sub.camera.main_url:
            return None
        with self._lock:
            self._reap()
            session = self._sessions.get(camera_id)
            if session is None:
                session = CameraSession(sub.camera, self.hub.settings, url=sub.camera.main_url)
                self._sessions[camera_id] = session
                session.start()
            self._users[camera_id] = self._users.get(camera_id, 0) + 1
            self._idle_since.pop(camera_id, None)
            return session

    def release(self, camera_id: str) -> None:
        with self._lock:
            self._users[camera_id] = max(0, self._users.get(camera_id, 0) - 1)
            if self._users[camera_id] == 0:
                self._idle_since[camera_id] = time.monotonic()
                timer = threading.Timer(self.linger + 0.1, self._reap_now)
                timer.daemon = True
                timer.start()
            self._reap()

    def open_streams(self) -> list[str]:
        """The cameras whose main stream is connected now (watched, recorded, or lingering)."""
        with self._lock:
            return sorted(self._sessions)

    def _reap_now(self) -> None:
        with self._lock:
            self._reap()

    def _reap(self) -> None:
        now = time.monotonic()
        for camera_id, since in list(self._idle_since.items()):
            if now - since >= self.linger:
                session = self._sessions.pop(camera_id)
                del self._idle_since[camera_id]
                session.request_stop()  # its own thread closes the container

    def stop(self) -> None:
        with self._lock:
            for session in self._sessions.values():
                session.request_stop()
            sessions, self._sessions = list(self._sessions.values()), {}
            self._idle_since.clear()
        for session in sessions:
            session.stop()
