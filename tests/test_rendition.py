"""H.264 renditions of an H.265 camera (issue 14 item 1), below the browser: a real H.265 camera (libx265 clip,
real GStreamer RTSP server with rtph265pay), the real session, ring and RenditionRegistry.

What a browser later relies on: the rendition's fMP4 is H.264 at the asked width that PyAV decodes frame for
frame, it starts at once (primed with the newest GOP) with keyframes at least every second, one rendition serves
every viewer of a camera and width, it stops with its last viewer, the cap holds, and the camera's own packets
(ring, direct live path) stay H.265.
"""

from __future__ import annotations

import io
import itertools
import time
from collections.abc import Iterator

import av
import pytest

from streams import CameraConfig, CameraSession, StreamSettings
from streams.devserver.rtsp import RtspDevServer
from streams.remux import Fragment, InitSegment, LiveViewer
from streams.renditions import RenditionRegistry, RenditionsFull, snap_width
from tests.conftest import wait_until
from tests.hevc_helpers import hevc_clip

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def hevc_rtsp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RtspDevServer]:
    server = RtspDevServer({"hevc": hevc_clip(tmp_path_factory.mktemp("hevc"), 120)}).start()
    yield server
    server.stop()


@pytest.fixture
def camera(hevc_rtsp: RtspDevServer) -> Iterator[CameraSession]:
    session = CameraSession(CameraConfig(id="h265", name="H.265", url=hevc_rtsp.url("hevc")), StreamSettings())
    session.start()
    assert wait_until(lambda: session.health.keyframes >= 2, 30), session.health.snapshot()
    yield session
    session.stop()


def decode(items: list[InitSegment | Fragment]) -> list[av.VideoFrame]:
    with av.open(io.BytesIO(b"".join(i.data for i in items))) as container:
        assert container.streams.video[0].codec_context.name == "h264"
        return list(container.decode(video=0))


def test_snap_width_shares_one_rendition_among_near_tile_sizes() -> None:
    assert snap_width(None, 1920) == snap_width(600, 1920) == snap_width(640, 1920) == 640
    assert snap_width(641, 1920) == snap_width(1200, 1920) == 1280
    assert snap_width(5000, 1920) == 1920
    assert snap_width(900, 704) == 704  # never above the camera's own width


def test_a_shared_rendition_plays_h264_and_stops_with_its_last_viewer(camera: CameraSession) -> None:
    registry = RenditionRegistry(cap=2)
    rendition = registry.acquire(camera, 320)
    first = LiveViewer(max_seconds=1e9)
    rendition.add_viewer(first)
    assert wait_until(lambda: rendition.frames_out >= 75, 30)  # the primed GOP and 2 s more, at least
    t0 = time.monotonic()
    same = registry.acquire(camera, 320)  # a second viewer of the camera at that width: the same rendition
    late = LiveViewer(max_seconds=1e9)
    same.add_viewer(late)
    got_late = late.drain()
    assert same is rendition and registry.started == 1
    assert time.monotonic() - t0 < 0.5 and isinstance(got_late[0], InitSegment)  # from its GOP cache, at once
    assert isinstance(got_late[1], Fragment) and got_late[1].keyframe
    assert registry.count("h265") == (1, 2) and [i.viewers for i in registry.active()] == [2]

    items = first.drain()
    init = items[0]
    assert isinstance(init, InitSegment) and init.codec is not None and init.codec.startswith("avc1.")
    assert (init.width, init.height) == (320, 180)
    frames = decode(items)
    assert len(frames) >= 70 and {(f.width, f.height) for f in frames} == {(320, 180)}
    fragments = [i for i in items if isinstance(i, Fragment)]
    keys = [i for i, f in enumerate(fragments) if f.keyframe]
    assert keys and keys[0] == 0 and max(b - a for a, b in itertools.pairwise(keys)) <= 25  # ≤ 1 s GOP
    assert rendition.dropped == 0

    # the camera's own packets are untouched: the ring and the direct live path stay H.265
    key = camera.ring.latest_keyframe()
    assert key is not None and key.epoch.info.codec == "hevc"
    direct = LiveViewer(max_seconds=1e9)
    camera.watch(direct)
    own = direct.drain()
    assert isinstance(own[0], InitSegment) and own[0].codec is not None and own[0].codec.startswith("hvc1.")
    camera.unwatch(direct)

    rendition.remove_viewer(first)
    registry.release(rendition)
    assert registry.count("h265") == (1, 1) and rendition.running  # one viewer left: it goes on
    rendition.remove_viewer(late)
    registry.release(same)
    assert registry.count("h265") == (0, 0) and registry.stopped == 1
    assert wait_until(lambda: not rendition.running, 5)  # its thread ended, its muxer closed
    assert rendition not in camera._consumers and rendition.init is None


def test_the_cap_refuses_a_rendition_past_it(camera: CameraSession, hevc_rtsp: RtspDevServer) -> None:
    other = CameraSession(CameraConfig(id="h265-b", name="B", url=hevc_rtsp.url("hevc")), StreamSettings())
    other.start()
    registry = RenditionRegistry(cap=1)
    try:
        held = registry.acquire(camera, 640)
        with pytest.raises(RenditionsFull, match="at most 1"):
            registry.acquire(other, 640)
        with pytest.raises(RenditionsFull):
            registry.acquire(camera, 1280)  # another width of the same camera is another rendition
        assert registry.acquire(camera, 640) is held  # sharing one that runs is never refused
        assert registry.refused == 2
        registry.release(held)
        registry.release(held)
        again = registry.acquire(other, 640)  # the slot is free again
        registry.release(again)
    finally:
        registry.stop()
        other.stop()


def rendered_kbps(registry: RenditionRegistry, camera: CameraSession, seconds: float = 4.0) -> tuple[float, int]:
    """(kbit/s of one rendition's fragments over ``seconds`` after its primed GOP, its ceiling)."""
    rendition = registry.acquire(camera, 640)
    viewer = LiveViewer(max_seconds=1e9)
    rendition.add_viewer(viewer)
    try:
        assert wait_until(lambda: rendition.frames_out >= 50, 30)
        viewer.drain()
        start = rendition.frames_out
        time.sleep(seconds)
        sent = sum(len(i.data) for i in viewer.drain() if isinstance(i, Fragment))
        frames = rendition.frames_out - start
        return sent * 8 / 1000 / (frames / 25), rendition.kbps
    finally:
        rendition.remove_viewer(viewer)
        registry.release(rendition)


def test_a_rendition_keeps_under_its_bitrate_ceiling(camera: CameraSession) -> None:
    """x264 at constant quality alone follows the picture's detail; the ceiling (live.rendition_kbps, scaled by
    the tile's pixels) bounds what every viewer receives."""
    from streams.rendition import MIN_KBPS, bitrate_cap

    assert bitrate_cap(4000, (1920, 1080)) == 4000 and bitrate_cap(4000, (960, 540)) == 1000
    assert bitrate_cap(300, (320, 180)) == MIN_KBPS
    free, free_cap = rendered_kbps(RenditionRegistry(cap=1, kbps_full_hd=50000), camera)
    capped, cap = rendered_kbps(RenditionRegistry(cap=1, kbps_full_hd=1000), camera)
    assert cap == bitrate_cap(1000, (640, 360)) == MIN_KBPS and free_cap > free
    assert free > 1.5 * cap, f"the clip must need more than the ceiling for this test to mean anything: {free:.0f}"
    assert capped <= 1.3 * cap, (capped, cap)
