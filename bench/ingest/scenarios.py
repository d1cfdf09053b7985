"""The three ways of ingesting every camera that the ingest benchmark compares, on the same RTSP streams.

(a) and (b) are citywall's own paths (a CameraSession per camera with a FrameSampler or a LiveViewer attached),
(c) the naive alternative. Each scenario only starts, reports cumulative counters and stops: the timing and the
differences over the window are the harness's (bench/ingest/harness.py), so all three are measured alike.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import cv2

from bench.clips import Clip
from streams.config import CameraConfig, StreamSettings
from streams.remux import Fragment, LiveViewer
from streams.sampler import FrameSampler, SampledFrame
from streams.session import CameraSession

SAMPLE_INTERVAL_S = 2.0  # citywall's default analysis interval (CameraConfig.analysis_interval)
SAMPLE_WIDTH = 640  # what a detector at 640 px wants; scaled in FFmpeg, not in Python
VIEWER_BUFFER_S = 4.0  # StreamSettings.viewer_buffer_seconds
DRAIN_EVERY_S = 0.05  # how often a WebSocket sender would wake up and send what is queued


@dataclass(frozen=True)
class Camera:
    """One camera of the run: its mount's RTSP URL and the clip that mount plays."""

    id: str
    url: str
    clip: Clip


class Scenario(Protocol):
    """One way of ingesting every camera. Counters are cumulative per camera; the harness takes deltas."""

    key: str
    title: str

    def start(self) -> None: ...
    def ready(self) -> bool: ...
    def problems(self) -> list[str]: ...
    def counters(self) -> dict[str, dict[str, int]]: ...
    def notes(self) -> dict[str, str]: ...
    def stop(self) -> None: ...


class _Sessions:
    """citywall's own ingest: a CameraSession (PyAV reader thread, ring, health) per camera."""

    def __init__(self, cameras: Sequence[Camera]) -> None:
        self.cameras = cameras
        settings = StreamSettings()
        self.sessions = [
            CameraSession(
                CameraConfig(id=cam.id, name=f"bench {cam.id} ({cam.clip.name})", url=cam.url), settings
            )
            for cam in cameras
        ]

    def ready(self) -> bool:
        return all(s.health.current_state().value == "live" for s in self.sessions)

    def problems(self) -> list[str]:
        return [
            f"{s.id}: {s.health.current_state().value} ({s.health.last_error or 'no error'})"
            for s in self.sessions
            if s.health.current_state().value != "live"
        ]

    def notes(self) -> dict[str, str]:
        return {}

    def stop(self) -> None:
        for session in self.sessions:
            session.request_stop()  # signal all first, as the hub does, so they wind down in parallel
        for session in self.sessions:
            session.stop()


class SamplingScenario(_Sessions):
    """(a) Analytics ingest: a FrameSampler per camera taking one look every 2 s, scaled to 640 px wide."""

    key = "sampling"
    title = f"(a) citywall sampling, 1 look / {SAMPLE_INTERVAL_S:g} s, {SAMPLE_WIDTH} px"

    def __init__(self, cameras: Sequence[Camera]) -> None:
        super().__init__(cameras)
        self.sizes: dict[str, str] = {}
        self.samplers = [
            FrameSampler(s.id, SAMPLE_INTERVAL_S, self._on_frame, width=SAMPLE_WIDTH) for s in self.sessions
        ]

    def _on_frame(self, frame: SampledFrame) -> None:
        # Stands in for the analyzer's queue: keep nothing, only check the decoder scaled as asked.
        height, width = frame.image.shape[:2]
        self.sizes[frame.camera_id] = f"{width}x{height}"

    def start(self) -> None:
        for session, sampler in zip(self.sessions, self.samplers, strict=True):
            session.attach(sampler)
            session.start()

    def counters(self) -> dict[str, dict[str, int]]:
        return {
            s.id: {
                "packets": s.health.packets,
                "decoded": p.decoded,
                "emitted": p.emitted,
                "skipped": p.skipped,
            }
            for s, p in zip(self.sessions, self.samplers, strict=True)
        }

    def notes(self) -> dict[str, str]:
        return {"sample_sizes": ", ".join(sorted(set(self.sizes.values()))) or "none"}


class RemuxScenario(_Sessions):
    """(b) Wall ingest: per-camera fMP4 remux with one viewer, drained every 50 ms (a WebSocket sender)."""

    key = "remux"
    title = "(b) citywall live remux to fMP4, 1 viewer"

    def __init__(self, cameras: Sequence[Camera]) -> None:
        super().__init__(cameras)
        self.viewers = [LiveViewer(max_seconds=VIEWER_BUFFER_S) for _ in self.sessions]
        n = len(self.sessions)
        self._inits, self._fragments, self._bytes = [0] * n, [0] * n, [0] * n
        self._halt = threading.Event()
        self._sender = threading.Thread(target=self._send, name="bench-sender", daemon=True)

    def _send(self) -> None:
        """Take what each viewer has queued and 'send' it (count it), as /ws/live's sender task would."""
        while not self._halt.wait(DRAIN_EVERY_S):
            for i, viewer in enumerate(self.viewers):
                for item in viewer.drain():
                    self._bytes[i] += len(item.data)
                    if isinstance(item, Fragment):
                        self._fragments[i] += 1
                    else:
                        self._inits[i] += 1

    def start(self) -> None:
        for session, viewer in zip(self.sessions, self.viewers, strict=True):
            session.watch(viewer)
            session.start()
        self._sender.start()

    def ready(self) -> bool:
        # Live is not enough here: the viewer must have had its init segment, or nothing is being remuxed yet.
        return super().ready() and all(self._inits)

    def problems(self) -> list[str]:
        waiting = [
            f"{s.id}: no init segment yet" for s, n in zip(self.sessions, self._inits, strict=True) if not n
        ]
        return super().problems() + waiting

    def counters(self) -> dict[str, dict[str, int]]:
        return {
            s.id: {
                "packets": s.health.packets,
                "fragments": self._fragments[i],
                "bytes": self._bytes[i],
                "skips": self.viewers[i].skips,
            }
            for i, s in enumerate(self.sessions)
        }

    def stop(self) -> None:
        self._halt.set()
        self._sender.join(5)
        for session, viewer in zip(self.sessions, self.viewers, strict=True):
            session.unwatch(viewer)
        super().stop()


class BaselineScenario:
    """(c) The naive way: a cv2.VideoCapture per camera, each in its own thread, decoding every frame."""

    key = "baseline"
    title = "(c) baseline cv2.VideoCapture, every frame"

    def __init__(self, cameras: Sequence[Camera]) -> None:
        self.cameras = cameras
        n = len(cameras)
        self._frames = [0] * n
        self._errors: list[str | None] = [None] * n
        self._halt = threading.Event()
        self._threads = [
            threading.Thread(target=self._read, args=(i, cam.url), name=f"baseline-{cam.id}", daemon=True)
            for i, cam in enumerate(cameras)
        ]

    def _read(self, index: int, url: str) -> None:
        capture = cv2.VideoCapture(url, cv2.CAP_FFMPEG)
        try:
            if not capture.isOpened():
                self._errors[index] = "could not open"
                return
            while not self._halt.is_set():
                ok, _image = capture.read()
                if not ok:
                    self._errors[index] = "read failed (stream ended or dropped)"
                    return
                self._frames[index] += 1
        finally:
            capture.release()

    def start(self) -> None:
        # Read by OpenCV when a capture is created; TCP as citywall uses, so both sides get the same packets.
        os.environ["OPENCV_FFMPEG_CAPTURE_OPTIONS"] = "rtsp_transport;tcp"
        for thread in self._threads:
            thread.start()

    def ready(self) -> bool:
        return all(self._frames)

    def problems(self) -> list[str]:
        return [
            f"{cam.id}: {self._errors[i] or 'no frame yet'}"
            for i, cam in enumerate(self.cameras)
            if not self._frames[i] or self._errors[i]
        ]

    def counters(self) -> dict[str, dict[str, int]]:
        return {cam.id: {"frames": self._frames[i]} for i, cam in enumerate(self.cameras)}

    def notes(self) -> dict[str, str]:
        errors = self.problems()
        return {"errors": "; ".join(errors)} if errors else {}

    def stop(self) -> None:
        self._halt.set()
        for thread in self._threads:
            thread.join(10)
