"""One generated camera for the benchmarks that measure what a consumer of a camera's packets costs (recording,
renditions): a synthetic clip of a known size, codec and GOP served by the real GStreamer RTSP server, and the
real CameraSession ingesting it.

Why one helper: those benchmarks compare a window with the consumer against a window without it on the same
ingest, and their figures are read side by side in docs/performance.md; the camera must come up the same way
(two keyframes in before the first window) and be torn down the same way in each.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from streams import CameraConfig, CameraSession, StreamSettings
from streams.devserver.clips import looped_copy, synthetic_clip
from streams.devserver.rtsp import RtspDevServer

UP_SECONDS = 30.0  # how long the camera may take to deliver its first two keyframes


@contextmanager
def served_camera(directory: Path, camera_id: str, *, width: int, height: int, codec: str,
                  seconds: float) -> Iterator[CameraSession]:
    """A 25 fps camera (GOP 2 s) of ``seconds`` of video over RTSP, its session started and, unless
    ``UP_SECONDS`` passed first, two keyframes in (the caller checks ``session.health``); stopped on exit."""
    short = synthetic_clip(directory / f"{camera_id}-short.mp4", width=width, height=height, fps=25, gop=50,
                           seconds=10, codec=codec)
    clip = looped_copy(short, directory / f"{camera_id}.mp4", seconds)
    server = RtspDevServer({"cam": clip}).start()
    session = CameraSession(CameraConfig(id=camera_id, name=camera_id, url=server.url("cam")), StreamSettings())
    session.start()
    try:
        deadline = time.monotonic() + UP_SECONDS
        while session.health.keyframes < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        yield session
    finally:
        session.stop()
        server.stop()
