"""The demo clips as the benchmarks' cameras send them: probing a clip, and looped copies that outlast a run.

Shared by bench.ingest, bench.analytics and bench.wall, so that every benchmark describes its streams the same
way (the table's clip line) and the RTSP server's mounts never run out mid-window (mounts do not loop).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import av

from streams.devserver.clips import looped_copy
from wall.demo import MEDIA

# The two 768x432 street clips: one with a 4.8 s GOP (longer than the analysis interval), one with a 1 s GOP.
DEFAULT_VIDEOS = ("car-detection.mp4", "one-by-one-person-detection.mp4")


@dataclass(frozen=True)
class Clip:
    """A source clip as the cameras will send it (stream copy, so these are the RTSP stream's parameters)."""

    name: str
    path: str
    codec: str
    profile: str | None
    width: int
    height: int
    fps: float
    gop_s: float | None
    duration_s: float

    @property
    def label(self) -> str:
        gop = f"GOP {self.gop_s:.2f} s" if self.gop_s else "GOP ?"
        return f"{self.width}x{self.height} {self.codec} {self.profile or ''} {self.fps:g} fps {gop}"


def probe_clip(path: Path) -> Clip:
    """Read the clip's packets (no decode) for its frame rate and keyframe spacing: they drive the sampler."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        cc = stream.codec_context
        rate = stream.average_rate or stream.guessed_rate
        keys = [
            float(p.pts * p.time_base) for p in container.demux(stream) if p.is_keyframe and p.pts is not None
        ]
        duration = container.duration / av.time_base if container.duration else float(stream.duration or 0)
    gaps = [b - a for a, b in itertools.pairwise(keys)]
    return Clip(
        name=path.name,
        path=str(path),
        codec=cc.name,
        profile=cc.profile,
        width=cc.width,
        height=cc.height,
        fps=float(rate) if rate else 25.0,
        gop_s=sum(gaps) / len(gaps) if gaps else None,
        duration_s=duration,
    )


def prepare_clips(names: Sequence[str], workdir: Path, needed_s: float) -> tuple[list[Clip], dict[str, Path]]:
    """Probe each clip; make a stream-copied looped copy that outlasts the whole run (mounts do not loop)."""
    clips, copies = [], {}
    for name in names:
        source = MEDIA / name
        if not source.is_file():
            raise FileNotFoundError(
                f"no clip {source} (available: {sorted(p.name for p in MEDIA.glob('*.mp4'))})"
            )
        clip = probe_clip(source)
        loops = max(1, math.ceil(needed_s / max(clip.duration_s, 1.0)))
        copies[name] = looped_copy(source, workdir / f"looped-{loops}x-{name}", (loops + 1) * clip.duration_s)
        clips.append(clip)
    return clips, copies
