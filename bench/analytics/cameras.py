"""The analytics benchmark's cameras: the demo clips re-encoded as 720p street cameras, cached between runs.

The demo clips are 768x432 with irregular GOPs; a real sub stream is 720p with a fixed GOP, which is what the
sampler's keyframe-only decode depends on, so both sides are measured on what a site would send.
"""

from __future__ import annotations

import math
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from bench.clips import Clip, probe_clip
from streams.devserver.clips import looped_copy
from wall.demo import MEDIA

DEFAULT_CACHE = Path(tempfile.gettempdir()) / "citywall-bench-cache"

# The cameras: what a 720p sub stream of a street camera typically sends.
CAMERA_SIZE = (1280, 720)
CAMERA_FPS = 25
CAMERA_GOP_S = 2.0
CAMERA_BITRATE = "2M"
CAMERA_CLIP_S = 60


def camera_clip(src: Path, dst: Path, *, still: bool = False) -> Path:
    """A '720p street camera' made from a demo clip: scaled, 25 fps, fixed 2 s GOP, Main, no B-frames, ~2 Mbit/s.

    ``still``: the clip's first picture held for the whole clip, with temporal noise of the strength a sensor
    adds in daylight (a quiet street); everything else the same. Cached by name: the encode takes ~20 s per clip
    on 2 cores and the result never changes.
    """
    if not dst.exists():
        dst.parent.mkdir(parents=True, exist_ok=True)
        gop = str(round(CAMERA_FPS * CAMERA_GOP_S))
        partial = dst.with_suffix(".partial.mp4")
        scale = f"scale={CAMERA_SIZE[0]}:{CAMERA_SIZE[1]}:flags=bicubic,fps={CAMERA_FPS}"
        source = ["-stream_loop", "-1", "-i", str(src)]
        if still:
            source = ["-loop", "1", "-framerate", str(CAMERA_FPS), "-i", str(_first_picture(src, dst))]
            scale += ",noise=alls=6:allf=t"
        subprocess.run(
            ["ffmpeg", "-v", "error", "-y", *source, "-t", str(CAMERA_CLIP_S), "-an",
             "-vf", scale,
             "-c:v", "libx264", "-preset", "veryfast", "-profile:v", "main", "-bf", "0",
             "-g", gop, "-keyint_min", gop, "-sc_threshold", "0",
             "-b:v", CAMERA_BITRATE, "-maxrate", CAMERA_BITRATE, "-bufsize", CAMERA_BITRATE,
             "-pix_fmt", "yuv420p", str(partial)],
            check=True,
        )
        partial.rename(dst)
    return dst


def _first_picture(src: Path, dst: Path) -> Path:
    """The first picture of ``src`` as a PNG beside ``dst`` (the still scene's background)."""
    png = dst.with_suffix(".first.png")
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(src), "-frames:v", "1", str(png)], check=True)
    return png


def prepare_clips(names: Sequence[str], cache: Path, workdir: Path, needed_s: float,
                  still: bool = False) -> dict[str, tuple[Clip, Path]]:
    """Each demo clip as a 720p camera (cached) and a looped copy of it that outlasts the whole run."""
    out: dict[str, tuple[Clip, Path]] = {}
    for name in names:
        source = MEDIA / name
        if not source.is_file():
            raise FileNotFoundError(f"no clip {source}")
        tag = f"{CAMERA_SIZE[1]}p{CAMERA_FPS}-gop{CAMERA_GOP_S:g}s-{CAMERA_BITRATE}{'-still' if still else ''}"
        clip_path = camera_clip(source, cache / f"{Path(name).stem}-{tag}.mp4", still=still)
        clip = probe_clip(clip_path)
        loops = max(1, math.ceil(needed_s / clip.duration_s))
        out[name] = (clip, looped_copy(clip_path, workdir / f"looped-{loops}x-{clip_path.name}",
                                       (loops + 1) * clip.duration_s))
    return out
