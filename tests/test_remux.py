"""LiveRemux: stream-copied fMP4 that decodes to exactly the input frames, starts at keyframes, stays bounded."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import av
import pytest

from streams import CameraConfig, CameraSession, StreamSettings
from streams.mp4 import codec_string, iter_boxes
from streams.remux import Fragment, InitSegment, LiveRemux, LiveViewer
from tests.conftest import wait_until
from tests.streams_helpers import feed
from wall.demo import MEDIA

CAR = MEDIA / "car-detection.mp4"
BOTTLE = MEDIA / "bottle-detection.mp4"


def decode_fmp4(items: list[InitSegment | Fragment], tmp_path: Path) -> list[av.VideoFrame]:
    path = tmp_path / "out.mp4"
    path.write_bytes(b"".join(i.data for i in items))
    with av.open(str(path)) as c:
        return list(c.decode(video=0))


def test_remux_is_lossless_frame_for_frame(tmp_path: Path) -> None:
    remux = LiveRemux("car")
    viewer = LiveViewer(max_seconds=1e9)
    remux.add_viewer(viewer)
    items = feed(CAR, remux)
    out = viewer.drain()
    assert isinstance(out[0], InitSegment) and out[0].codec == "avc1.428016"
    fragments = [o for o in out if isinstance(o, Fragment)]
    assert len(fragments) == len(items) == 377  # one fragment per frame, the last flushed on drop
    kinds = [k for k, _, _ in iter_boxes(fragments[1].data)]
    assert kinds == [b"moof", b"mdat"]
    frames = decode_fmp4(out, tmp_path)
    assert len(frames) == 377
    t0 = items[0].pts_s
    expected = [round(i.pts_s - t0, 3) for i in items]
    got = [round(float(f.pts * f.time_base), 3) for f in frames]
    assert got == expected
    # Stream copy: the compressed bytes inside mdat are the camera's own (length-prefixed like the input).
    assert fragments[5].data.endswith(bytes(items[5].packet))


def test_codec_strings_from_init_segment(tmp_path: Path) -> None:
    remux = LiveRemux("bottle")
    viewer = LiveViewer(max_seconds=1e9)
    remux.add_viewer(viewer)
    feed(BOTTLE, remux, limit=30)
    init = viewer.drain()[0]
    assert isinstance(init, InitSegment)
    assert init.codec is not None and init.codec.startswith("avc1.64")  # High profile
    assert init.mime == f'video/mp4; codecs="{init.codec}"'
    assert (init.width, init.height) == (640, 360)


def test_hevc_is_tagged_hvc1_with_its_codec_string(tmp_path: Path) -> None:
    src = tmp_path / "hevc.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=10", "-t", "2",
                    "-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "log-level=none", str(src)],
                   check=True)
    remux = LiveRemux("hevc")
    viewer = LiveViewer(max_seconds=1e9)
    remux.add_viewer(viewer)
    feed(src, remux)
    out = viewer.drain()
    assert isinstance(out[0], InitSegment)
    assert out[0].codec is not None and out[0].codec.startswith("hvc1.1.")
    assert codec_string(out[0].data) == out[0].codec
    assert len(decode_fmp4(out, tmp_path)) == 20


def test_late_joiner_starts_at_latest_keyframe_at_once() -> None:
    session = CameraSession(CameraConfig(id="car", name="car", url=f"file:{CAR}"), StreamSettings())
    session.start()
    try:
        assert wait_until(lambda: session.health.keyframes >= 2, 15)  # past the first GOP
        first = LiveViewer(max_seconds=10)
        session.watch(first)
        time.sleep(1.0)
        t0 = time.monotonic()
        late = LiveViewer(max_seconds=10)
        session.watch(late)
        got = late.drain()
        assert time.monotonic() - t0 < 0.5  # served from the GOP cache, not the next keyframe
        assert isinstance(got[0], InitSegment)
        assert isinstance(got[1], Fragment) and got[1].keyframe
        assert session.remux.viewer_count == 2
        session.unwatch(first)
        session.unwatch(late)
        assert session.remux.viewer_count == 0
        assert session.remux.init is None  # the muxer stops when nobody watches
    finally:
        session.stop()


def test_slow_viewer_is_skipped_to_next_keyframe_not_buffered() -> None:
    remux = LiveRemux("car")
    slow = LiveViewer(max_seconds=1.0)
    remux.add_viewer(slow)
    items = feed(CAR, remux, limit=185)  # 14.8 s (GOP 4.8 s) pushed at a viewer that never reads
    assert slow.skips >= 1
    queued = slow.drain()
    fragments = [q for q in queued if isinstance(q, Fragment)]
    assert sum(f.duration_s for f in fragments) <= 1.0 + 1e-6
    assert isinstance(queued[0], InitSegment)  # a pending init is never dropped
    assert fragments and fragments[0].keyframe  # resumes where a decoder can
    assert len(items) == 185


@pytest.mark.parametrize("viewers", [1, 6])
def test_one_muxer_serves_every_viewer(viewers: int) -> None:
    remux = LiveRemux("car")
    outs = [LiveViewer(max_seconds=1e9) for _ in range(viewers)]
    for v in outs:
        remux.add_viewer(v)
    feed(CAR, remux, limit=60)
    assert remux.fragments == 60
    drained = [v.drain() for v in outs]
    assert all(len(d) == 61 for d in drained)
    assert all(d[5].data is drained[0][5].data for d in drained)  # the same bytes, not a copy per viewer


def test_a_viewer_may_start_at_the_next_keyframe_instead_of_the_cached_gop() -> None:
    """The baseline of bench/wall.py (go2rtc/Frigate behaviour): the init at once, then nothing until the next
    keyframe — where a cached viewer gets the GOP so far at once."""
    from tests.streams_helpers import timed_packets

    remux = LiveRemux("car")
    cached, fresh = LiveViewer(max_seconds=1e9), LiveViewer(max_seconds=1e9, from_cache=False)
    keyframes, after = 0, 0
    for n, item in enumerate(timed_packets(CAR)):
        if n == 0:
            remux.on_epoch(item.epoch)
        remux.on_packet(item)
        keyframes += item.keyframe
        if keyframes == 1 and len(remux.gop) == 10:  # joined mid-GOP
            remux.add_viewer(cached)
            remux.add_viewer(fresh)
            joined = (cached.drain(), fresh.drain())
        after += keyframes == 2
        if after == 3:  # a fragment is written when the next frame arrives
            break
    got_cached, got_fresh = joined
    assert isinstance(got_cached[0], InitSegment) and isinstance(got_fresh[0], InitSegment)
    assert len(got_cached) == 11 and got_cached[1].keyframe, "init + the 10 frames of the GOP so far"
    assert len(got_fresh) == 1, "only the init until the next keyframe"
    later = fresh.drain()
    assert later and isinstance(later[0], Fragment) and later[0].keyframe
