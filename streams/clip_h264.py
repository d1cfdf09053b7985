"""An evidence clip of an H.265 camera as H.264, for a browser whose ``<video>`` cannot play H.265.

Why: evidence clips are stream copies of the camera's ring (streams/ring.py), so an H.265 camera's clip is
H.265 and plays only where the browser has an HEVC decoder; the review desk must judge it anywhere. The copy is
made once, on first demand, and kept beside the other cached copies (the evidence file itself is never
touched: it is what the platform and the audit refer to). Picture size is kept up to ``max_width`` (a 4K clip
would cost a minute to re-encode); libx264 ``veryfast`` at CRF 23 with ``+faststart`` so the browser can start
playing before the whole file is in.
"""

from __future__ import annotations

import os
import threading
from fractions import Fraction
from pathlib import Path

import av

from streams.sampler import output_size

MAX_WIDTH = 1280
_locks: dict[Path, threading.Lock] = {}
_locks_guard = threading.Lock()


def video_codec(path: Path) -> str | None:
    """PyAV's name of ``path``'s video codec (``h264``, ``hevc``…); None without a video track."""
    with av.open(str(path)) as probe:
        return probe.streams.video[0].codec_context.name if probe.streams.video else None


def h264_copy(src: Path, cache_dir: Path, max_width: int = MAX_WIDTH) -> Path:
    """``src`` itself when it is H.264 already, else its H.264 copy in ``cache_dir`` (made now if missing).

    Written under a temporary name and renamed, and one writer per clip at a time, so two operators opening the
    same case at once wait for one encode instead of racing two."""
    if video_codec(src) in (None, "h264"):
        return src
    dst = cache_dir / f"{src.stem}.h264.mp4"
    with _locks_guard:
        lock = _locks.setdefault(dst, threading.Lock())
    with lock:
        if dst.is_file() and dst.stat().st_mtime >= src.stat().st_mtime:
            return dst
        cache_dir.mkdir(parents=True, exist_ok=True)
        part = dst.with_name(f".{dst.name}.{os.getpid()}.part")
        try:
            _transcode(src, part, max_width)
            part.replace(dst)
        finally:
            part.unlink(missing_ok=True)
    return dst


def _transcode(src: Path, dst: Path, max_width: int) -> None:
    with av.open(str(src)) as inp, av.open(str(dst), "w", format="mp4", options={"movflags": "+faststart"}) as out:
        video = inp.streams.video[0]
        cc = video.codec_context
        width, height = output_size((cc.width, cc.height), min(cc.width, max_width), None)
        rate = video.average_rate or video.guessed_rate or 25
        encoder = out.add_stream("libx264", rate=rate, options={"preset": "veryfast", "crf": "23"})
        encoder.width, encoder.height, encoder.pix_fmt = width, height, "yuv420p"
        time_base = video.time_base or Fraction(1, 90000)
        encoder.codec_context.time_base = time_base
        encoder.time_base = time_base
        last = None
        for frame in inp.decode(video):
            if frame.pts is None or (last is not None and frame.pts <= last):
                continue
            last = frame.pts
            scaled = frame.reformat(width=width, height=height, format="yuv420p")
            scaled.pts, scaled.time_base = frame.pts, time_base
            out.mux(encoder.encode(scaled))
        out.mux(encoder.encode(None))
