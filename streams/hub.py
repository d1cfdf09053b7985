"""CameraHub: every configured camera's session, started and stopped together, looked up by id."""

from __future__ import annotations

from collections.abc import Iterable

from streams.config import CameraConfig, StreamSettings
from streams.session import CameraSession


class CameraHub:
    def __init__(self, cameras: Iterable[CameraConfig], settings: StreamSettings | None = None) -> None:
        self.settings = settings or StreamSettings()
        self.sessions: dict[str, CameraSession] = {
            cam.id: CameraSession(cam, self.settings) for cam in cameras if cam.enabled
        }

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

    def __iter__(self):
        return iter(self.sessions.values())

    def __len__(self) -> int:
        return len(self.sessions)
