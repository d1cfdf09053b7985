"""PacketRing: bounded memory, and evidence clips written by stream copy that play from their first frame."""

from __future__ import annotations

import time
from pathlib import Path

import av
import pytest

from streams import CameraConfig, CameraSession, StreamSettings
from streams.devserver.rtsp import RtspDevServer
from streams.ring import ClipUnavailable, PacketRing
from tests.conftest import wait_until
from tests.streams_helpers import timed_packets
from wall.demo import MEDIA

CAR = MEDIA / "car-detection.mp4"  # 12.5 fps, GOP 4.8 s
GOP = 4.8


def probe_clip(path: Path) -> tuple[int, float, bool, tuple[int, int]]:
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        frames = list(c.decode(stream))
        duration = float(stream.duration * stream.time_base) if stream.duration else 0.0
        return len(frames), duration, bool(frames[0].key_frame), (frames[0].width, frames[0].height)


def filled_ring(seconds: float = 60, max_bytes: int = 1 << 30) -> PacketRing:
    ring = PacketRing(seconds, max_bytes)
    for item in timed_packets(CAR):
        ring.append(item)
    return ring


def test_clip_covers_request_within_a_gop_and_plays(tmp_path: Path) -> None:
    ring = filled_ring()
    items = list(timed_packets(CAR))
    t0 = items[0].wall + 15.0  # the event
    clip = ring.write_clip(tmp_path / "clip.mp4", t0 - 5, t0 + 3)
    requested = 8.0
    assert requested <= clip.duration <= requested + GOP + 0.1
    assert clip.start_wall <= t0 - 5 < clip.start_wall + GOP + 0.01
    frames, duration, starts_with_key, size = probe_clip(clip.path)
    assert starts_with_key and size == (768, 432)
    assert frames == clip.frames
    assert abs(duration - clip.duration) < 0.2


def test_ring_is_bounded_by_seconds_and_by_bytes() -> None:
    by_time = filled_ring(seconds=10)
    assert by_time.span_seconds() <= 10.0
    total = sum(i.packet.size for i in timed_packets(CAR))
    by_bytes = filled_ring(max_bytes=total // 4)
    assert by_bytes.nbytes <= total // 4
    assert len(by_bytes) < 377


def test_clip_outside_the_ring_is_refused(tmp_path: Path) -> None:
    ring = filled_ring(seconds=10)
    with pytest.raises(ClipUnavailable):
        ring.write_clip(tmp_path / "x.mp4", 0, 1)  # long before anything in the ring


@pytest.mark.slow
def test_clip_from_a_live_rtsp_camera(rtsp: RtspDevServer, tmp_path: Path) -> None:
    session = CameraSession(CameraConfig(id="hd", name="hd", url=rtsp.url("hd")), StreamSettings())
    session.start()
    try:
        assert wait_until(lambda: session.ring.span_seconds() >= 7, 30)
        now = time.time()
        clip = session.ring.write_clip(tmp_path / "hd.mp4", now - 5, now - 1)
    finally:
        session.stop()
    frames, duration, starts_with_key, size = probe_clip(clip.path)
    assert starts_with_key and size == (1920, 1080)
    assert 4.0 - 0.5 <= duration <= 4.0 + 2.0 + 0.5  # GOP of the generated camera is 2 s
    assert frames == clip.frames
