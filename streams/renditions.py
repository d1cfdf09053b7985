"""RenditionRegistry: at most one H.264 rendition per camera stream and width, shared by all its viewers, and at
most ``cap`` of them on this box.

Why shared: a rendition is a decode and an encode (tens of milliseconds of CPU per camera-second), a viewer of
it only a send, so eighteen seats watching one H.265 camera must cost one rendition, not eighteen. Why a cap: a
box that transcodes without bound stops ingesting and analysing in time; past the cap a tile is told why and
shows stills (the camera's own keyframes as JPEG) instead, which costs a decode per second at most.

Widths are snapped to a few steps (a tile, a maximised tile, full HD) and never above the camera's own, so tiles of
slightly different sizes share one rendition. A rendition starts on its first viewer and stops when its last one
leaves (its thread ends and its muxer closes); the counters say how many were made and refused, for /metrics and
the tests.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from streams.rendition import Rendition
from streams.session import CameraSession

WIDTHS = (640, 1280, 1920)  # a tile, a maximised tile, full HD


def snap_width(requested: int | None, source_width: int | None) -> int:
    """The rendition width for a tile ``requested`` pixels wide: the next step up, at most the camera's own."""
    want = requested if requested and requested > 0 else WIDTHS[0]
    width = next((w for w in WIDTHS if w >= want), WIDTHS[-1])
    if source_width and source_width > 0:
        width = min(width, source_width)
    return max(2, width // 2 * 2)


class RenditionsFull(Exception):
    """This box makes as many renditions as it may (``server.live.renditions``); the message says so."""


@dataclass(frozen=True)
class RenditionInfo:
    """One running rendition, for /metrics and the tests."""

    camera_id: str
    width: int
    main: bool
    viewers: int
    frames_out: int
    dropped: int
    cpu_seconds: float


@dataclass
class _Entry:
    rendition: Rendition
    session: CameraSession
    main: bool
    users: int = 0


class RenditionRegistry:
    """``acquire`` a rendition for a viewer (starting it if needed), ``release`` it when the viewer leaves."""

    def __init__(self, cap: int, kbps_full_hd: int = 4000) -> None:
        self.cap = cap
        self.kbps_full_hd = kbps_full_hd  # each rendition's bitrate ceiling at 1080p, scaled by its size
        self._lock = threading.Lock()
        self._entries: dict[tuple[int, int], _Entry] = {}  # (id of the session, width): the session is held
        self.started = 0
        self.stopped = 0
        self.refused = 0

    def acquire(self, session: CameraSession, width: int, *, main: bool = False) -> Rendition:
        """The shared rendition of ``session`` at ``width`` (a snapped width), one user more; raises
        RenditionsFull past the cap."""
        key = (id(session), width)
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                if len(self._entries) >= self.cap:
                    self.refused += 1
                    raise RenditionsFull(f"this server makes at most {self.cap} H.264 renditions at once; "
                                         "the tile shows stills")
                entry = _Entry(Rendition(session.id, width, kbps_full_hd=self.kbps_full_hd), session, main)
                self._entries[key] = entry
                self.started += 1
                entry.rendition.start()
                session.attach(entry.rendition, prime=True)  # the newest GOP first: a picture at once
            entry.users += 1
            return entry.rendition

    def release(self, rendition: Rendition) -> None:
        """One user less; the last one stops the rendition (detached from the camera, its thread ended)."""
        with self._lock:
            key = next((k for k, e in self._entries.items() if e.rendition is rendition), None)
            if key is None:
                return
            entry = self._entries[key]
            entry.users -= 1
            if entry.users > 0:
                return
            del self._entries[key]
            self.stopped += 1
        entry.session.detach(rendition)
        rendition.stop()

    def active(self) -> list[RenditionInfo]:
        with self._lock:
            entries = list(self._entries.values())
        return [RenditionInfo(e.session.id, e.rendition.width, e.main, e.users, e.rendition.frames_out,
                              e.rendition.dropped, e.rendition.cpu_seconds) for e in entries]

    def count(self, camera_id: str) -> tuple[int, int]:
        """(renditions, their viewers) of one camera."""
        with self._lock:
            mine = [e for e in self._entries.values() if e.session.id == camera_id]
        return len(mine), sum(e.users for e in mine)

    def stop(self) -> None:
        with self._lock:
            entries, self._entries = list(self._entries.values()), {}
        for entry in entries:
            entry.session.detach(entry.rendition)
            entry.rendition.stop(wait=2.0)
