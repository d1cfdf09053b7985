"""The files the RTSP development server serves: long looped copies of short clips, and generated test patterns.

The server's file mounts play a file once, so a camera that should run for the length of a test, a benchmark or
a demo session is a stream copy of a short clip repeated (never re-encoded: the camera's own H.264/H.265 is what
the ingest must handle). A generated clip is a camera with known parameters (size, frame rate, GOP).
"""

from __future__ import annotations

import math
import subprocess
from pathlib import Path


class ClipError(ValueError):
    """A clip that cannot be served: no video, or a codec the server cannot packetize."""


SERVABLE = {"h264": "h264", "hevc": "h265"}  # PyAV's codec name → the RTSP server's


def codec_of(path: Path) -> str:
    """The server's name of ``path``'s video codec (h264 or h265); :class:`ClipError` for anything else."""
    import av

    with av.open(str(path)) as probe:
        if not probe.streams.video:
            raise ClipError(f"{path.name}: no video track")
        name = probe.streams.video[0].codec_context.name
    if name not in SERVABLE:
        raise ClipError(f"{path.name}: {name} cannot be served (H.264 or H.265 only)")
    return SERVABLE[name]


def looped_copy(src: Path, dst: Path, seconds: float) -> Path:
    """``dst``: a stream copy of ``src``'s video repeated to last at least ``seconds``, with continuous timestamps.
    Kept while it is newer than ``src``; written under a temporary name and renamed, so an interrupted run never
    leaves half a file that a later run would serve."""
    import av

    codec_of(src)
    if dst.is_file() and dst.stat().st_size > 0 and dst.stat().st_mtime >= src.stat().st_mtime:
        return dst
    with av.open(str(src)) as probe:
        stream = probe.streams.video[0]
        dts = [(p.dts, p.duration or 0) for p in probe.demux(stream) if p.dts is not None]
        time_base = stream.time_base
    if not dts or time_base is None:
        raise ClipError(f"{src.name}: no video packets")
    first = min(d for d, _ in dts)
    span = max(d + dur for d, dur in dts) - first  # one pass, in the stream's time base
    loops = max(1, math.ceil(seconds / float(span * time_base)))
    dst.parent.mkdir(parents=True, exist_ok=True)
    part = dst.with_name(f".{dst.name}.part")
    with av.open(str(part), "w", format="mp4") as out:
        out_stream = None
        for i in range(loops):
            with av.open(str(src)) as inp:
                video = inp.streams.video[0]
                if out_stream is None:
                    out_stream = out.add_stream_from_template(video)
                for packet in inp.demux(video):
                    if packet.dts is None:  # the demuxer's final empty packet
                        continue
                    packet.dts += i * span
                    if packet.pts is not None:
                        packet.pts += i * span
                    packet.stream = out_stream
                    out.mux(packet)
    part.replace(dst)
    return dst


def synthetic_clip(dst: Path, *, width: int = 1920, height: int = 1080, fps: int = 25, gop: int = 50,
                   seconds: int = 120, codec: str = "libx264") -> Path:
    """A generated clip (FFmpeg's testsrc2, needs the ``ffmpeg`` command) at a given size and fixed GOP, without
    B-frames: a '1080p camera' with known parameters. Kept when ``dst`` exists."""
    if not dst.exists():
        subprocess.run(
            ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc2=size={width}x{height}:rate={fps}",
             "-t", str(seconds), "-c:v", codec, "-preset", "ultrafast", "-tune", "zerolatency",
             "-g", str(gop), "-keyint_min", str(gop), "-sc_threshold", "0", "-pix_fmt", "yuv420p",
             "-b:v", "2M", str(dst)],
            check=True,
        )
    return dst
