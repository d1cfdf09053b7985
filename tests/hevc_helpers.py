"""An H.265 camera for the tests: a clip made at test time with FFmpeg's libx265 and served over RTSP by the real
GStreamer server (``rtph265pay``), because most public-security cameras send H.265 and headless chromium cannot
decode it (the case the server's H.264 renditions exist for)."""

from __future__ import annotations

from pathlib import Path

from streams.devserver.clips import looped_copy, synthetic_clip

HEVC_SIZE = (640, 360)


def hevc_clip(directory: Path, seconds: float = 300) -> Path:
    """A 640x360 25 fps H.265 camera with a 1 s GOP: 3 s encoded once, stream-copied to last ``seconds``."""
    short = synthetic_clip(directory / "hevc-short.mp4", width=HEVC_SIZE[0], height=HEVC_SIZE[1], fps=25, gop=25,
                           seconds=3, codec="libx265")
    return looped_copy(short, directory / "hevc.mp4", seconds)
