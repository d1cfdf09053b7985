"""Per-camera health as the wall and the API show it: state, since-when, last error, measured rates.

States: ``connecting`` (opening), ``live`` (packets flowing), ``stalled`` (connected but no packet for
``stall_after`` seconds — a frozen camera), ``offline`` (the last attempt failed; waiting to retry), ``stopped``.
"""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TypedDict


class CameraState(StrEnum):
    CONNECTING = "connecting"
    LIVE = "live"
    STALLED = "stalled"
    OFFLINE = "offline"
    STOPPED = "stopped"


@dataclass
class Backoff:
    """Capped exponential backoff with full jitter, so a hundred cameras dropped together don't retry in step."""

    initial: float
    maximum: float
    attempt: int = 0
    rng: random.Random = field(default_factory=random.Random)

    def next_delay(self) -> float:
        ceiling = min(self.maximum, self.initial * (2**self.attempt))
        self.attempt += 1
        return self.rng.uniform(ceiling / 2, ceiling)

    def reset(self) -> None:
        self.attempt = 0


class RateWindow:
    """Packets, bytes and keyframes over the last ``seconds`` of receipt time: fps, bitrate and GOP as measured."""

    def __init__(self, seconds: float = 10.0) -> None:
        self.seconds = seconds
        self._events: deque[tuple[float, int, bool]] = deque()
        self._lock = threading.Lock()

    def add(self, now: float, size: int, keyframe: bool) -> None:
        with self._lock:
            self._events.append((now, size, keyframe))
            cutoff = now - self.seconds
            while self._events and self._events[0][0] < cutoff:
                self._events.popleft()

    def rates(self) -> tuple[float | None, float | None]:
        """(frames per second, kilobits per second) over the window, None until there are two packets."""
        with self._lock:
            if len(self._events) < 2:
                return None, None
            span = self._events[-1][0] - self._events[0][0]
            if span <= 0:
                return None, None
            count = len(self._events) - 1
            size = sum(e[1] for e in list(self._events)[1:])
        return count / span, size * 8 / span / 1000


class HealthSnapshot(TypedDict):
    """What :meth:`CameraHealth.snapshot` returns, typed: the runtime builds its camera status from it."""

    state: str
    since: float
    last_error: str | None
    last_error_kind: str | None
    last_error_at: float | None
    fps: float | None
    bitrate_kbps: float | None
    gop_seconds: float | None
    reconnects: int
    packets: int
    codec: str | None
    profile: str | None
    width: int | None
    height: int | None


@dataclass
class CameraHealth:
    """Mutable health record written by the camera's reader thread and read (as a snapshot) by everyone else."""

    camera_id: str
    stall_after: float
    state: CameraState = CameraState.CONNECTING
    since: float = field(default_factory=time.time)
    last_error: str | None = None
    last_error_kind: str | None = None
    last_error_at: float | None = None
    last_packet_mono: float | None = None
    reconnects: int = 0
    packets: int = 0
    bytes: int = 0
    keyframes: int = 0
    gop_seconds: float | None = None
    codec: str | None = None
    profile: str | None = None
    width: int | None = None
    height: int | None = None
    window: RateWindow = field(default_factory=RateWindow)
    _last_key_pts_s: float | None = None

    def set_state(self, state: CameraState) -> None:
        if state != self.state:
            self.state = state
            self.since = time.time()

    def on_error(self, kind: str, message: str) -> None:
        self.last_error, self.last_error_kind, self.last_error_at = message, kind, time.time()

    def on_packet(self, size: int, keyframe: bool, pts_seconds: float) -> None:
        now = time.monotonic()
        self.last_packet_mono = now
        self.packets += 1
        self.bytes += size
        self.window.add(now, size, keyframe)
        if keyframe:
            self.keyframes += 1
            if self._last_key_pts_s is not None and pts_seconds > self._last_key_pts_s:
                self.gop_seconds = pts_seconds - self._last_key_pts_s
            self._last_key_pts_s = pts_seconds
        if self.state != CameraState.LIVE:
            self.set_state(CameraState.LIVE)

    def new_connection(self) -> None:
        self._last_key_pts_s = None

    def current_state(self) -> CameraState:
        """``live`` turns into ``stalled`` by the clock alone: a frozen camera sends nothing to tell us."""
        if (
            self.state == CameraState.LIVE
            and self.last_packet_mono is not None
            and time.monotonic() - self.last_packet_mono > self.stall_after
        ):
            return CameraState.STALLED
        return self.state

    def snapshot(self) -> HealthSnapshot:
        fps, kbps = self.window.rates()
        state = self.current_state()
        return {
            "state": state.value,
            "since": self.since,
            "last_error": self.last_error,
            "last_error_kind": self.last_error_kind,
            "last_error_at": self.last_error_at,
            "fps": round(fps, 2) if fps and state == CameraState.LIVE else None,
            "bitrate_kbps": round(kbps, 1) if kbps and state == CameraState.LIVE else None,
            "gop_seconds": round(self.gop_seconds, 3) if self.gop_seconds else None,
            "reconnects": self.reconnects,
            "packets": self.packets,
            "codec": self.codec,
            "profile": self.profile,
            "width": self.width,
            "height": self.height,
        }
