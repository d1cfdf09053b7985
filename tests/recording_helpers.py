"""What the recording tests over the real app share: a camera whose every frame can be told apart (testsrc2
draws a frame counter), served by the real RTSP server; a site that records it; and the playback right."""

from __future__ import annotations

import hashlib
from pathlib import Path

import av
import numpy as np

from streams.devserver.clips import looped_copy, synthetic_clip
from tests.conftest import LiveServer

FPS, GOP_FRAMES = 25, 25  # a keyframe a second
LOOP_SECONDS = 20
SIZE = (320, 180)

RECORDING_SERVER_YAML = """\
recording:
  segment_seconds: 2
  default:
    mode: continuous
streams:
  backoff_initial: 0.3
  backoff_max: 1
  read_timeout: 3
"""


def counted_camera(directory: Path, seconds: float = 600) -> tuple[Path, Path]:
    """(the short clip, its looped copy the RTSP server plays): 20 s of distinct frames, repeated."""
    short = synthetic_clip(directory / "counted-short.mp4", width=SIZE[0], height=SIZE[1], fps=FPS, gop=GOP_FRAMES,
                           seconds=LOOP_SECONDS)
    return short, looped_copy(short, directory / "counted.mp4", seconds)


def picture_key(image: np.ndarray) -> str:
    return hashlib.sha256(image.tobytes()).hexdigest()


def frame_index(path: Path) -> dict[str, int]:
    """Each decoded picture of ``path`` → its frame number (the clip's frames are all different)."""
    with av.open(str(path)) as c:
        return {picture_key(f.to_ndarray(format="rgb24")): n for n, f in enumerate(c.decode(video=0))}


def decoded(data: bytes, directory: Path, name: str = "chunk.mp4") -> list[tuple[float, np.ndarray]]:
    """(media seconds, picture) of every frame of an MP4 or fragmented MP4 answer, decoded by PyAV."""
    path = directory / name
    path.write_bytes(data)
    with av.open(str(path)) as c:
        return [(float(f.pts * f.time_base), f.to_ndarray(format="rgb24")) for f in c.decode(video=0)]


def grant_playback(site: LiveServer, user: str, camera: str) -> None:
    from wall.auth import grants
    from wall.auth.principal import GrantRight

    configured = [c.id for c in site.app.state.services.site.cameras]
    with site.db.session() as s:
        grants.add_grant(s, grants.Subject.parse(user), grants.Target.parse(camera), configured, by="test",
                         right=GrantRight.PLAYBACK)
