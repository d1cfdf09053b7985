"""FrameSampler decodes only what analytics use, at the requested size, and times frames correctly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from streams import CameraConfig, CameraSession, StreamSettings
from streams.devserver.rtsp import RtspDevServer
from streams.sampler import FrameSampler, SampledFrame, output_size
from tests.conftest import wait_until
from tests.streams_helpers import feed
from vision.card import DEFAULT_CARD
from wall.demo import MEDIA

CAR = MEDIA / "car-detection.mp4"  # 377 frames, 12.5 fps, GOP 4.8 s (60 frames)


def run(path: Path, interval: float, **options: float) -> tuple[FrameSampler, list[SampledFrame], int]:
    frames: list[SampledFrame] = []
    sampler = FrameSampler("cam", interval, frames.append, **options)  # type: ignore[arg-type]
    items = feed(path, sampler)
    return sampler, frames, len(items)


def test_interval_at_least_gop_decodes_keyframes_only() -> None:
    sampler, frames, total = run(CAR, 5.0, width=640)
    assert [round(f.pts_s, 1) for f in frames] == [0.0, 4.8, 9.6, 14.4, 19.2, 24.0, 28.8]
    assert all(f.keyframe for f in frames)
    # The first GOP is decoded while its length is unknown (60 frames); after that, only the used keyframes.
    assert sampler.decoded == 60 + (len(frames) - 1)
    assert sampler.skipped == total - sampler.decoded
    assert frames[0].image.shape == (360, 640, 3) and frames[0].image.dtype == np.uint8
    assert frames[0].source_size == (768, 432)


def test_interval_shorter_than_gop_takes_every_kth_frame() -> None:
    sampler, frames, total = run(CAR, 1.0)
    times = [f.pts_s for f in frames]
    assert len(frames) == 31  # 0 … 30 s
    gaps = np.diff(times)
    assert np.all(np.abs(gaps - 1.0) <= 0.04 + 1e-9)  # the frame nearest each due time (frames are 0.08 s apart)
    # Once the GOP is known, the frames after a GOP's last due sample are never decoded.
    assert sampler.decoded + sampler.skipped == total
    assert sampler.skipped >= 30
    assert frames[0].image.shape == (432, 768, 3)


def test_max_interval_snaps_looks_to_keyframes_on_a_long_gop() -> None:
    """GOP 4.8 s, a look every 2 s, looks allowed up to 5 s apart: one look per GOP, on its keyframe."""
    snapped, frames, total = run(CAR, 2.0, width=640, max_interval=5.0)
    times = [round(f.pts_s, 1) for f in frames]
    # The first GOP's length is unknown until its end, so it is sampled as asked (0, 2, 4 s); from the second
    # keyframe on every look is a keyframe.
    assert times[:3] == [0.0, 2.0, 4.0]
    assert times[3:] == [4.8, 9.6, 14.4, 19.2, 24.0, 28.8]
    assert all(f.keyframe for f in frames[3:])
    assert snapped.decoded == 60 + 6  # the first GOP, then its keyframe per GOP
    # The same camera without max_interval decodes up to the frames at 2 s and 4 s into every GOP.
    plain, plain_frames, _ = run(CAR, 2.0, width=640)
    assert len(plain_frames) == 16
    assert plain.decoded >= 0.75 * total > 4 * snapped.decoded
    # A GOP longer than max_interval is not snapped.
    short, short_frames, _ = run(CAR, 2.0, width=640, max_interval=4.0)
    assert short.decoded == plain.decoded and len(short_frames) == len(plain_frames)
    with pytest.raises(ValueError, match="max_interval"):
        FrameSampler("cam", 2.0, lambda f: None, max_interval=1.0)


def test_camera_config_checks_analysis_max_interval() -> None:
    cam = {"id": "lot", "name": "lot", "url": "rtsp://10.0.0.1/sub", "analysis_interval": 2.0}
    assert CameraConfig.model_validate({**cam, "analysis_max_interval": 5}).analysis_max_interval == 5
    assert CameraConfig.model_validate(cam).analysis_max_interval is None
    with pytest.raises(ValidationError, match="analysis_max_interval must be at least analysis_interval"):
        CameraConfig.model_validate({**cam, "analysis_max_interval": 1})


def test_frames_carry_camera_and_arrival_times() -> None:
    _, frames, _ = run(CAR, 10.0, height=216)
    f = frames[1]
    assert f.camera_id == "cam"
    assert f.image.shape == (216, 384, 3)
    assert f.wall == pytest.approx(1_000_000.0 + f.pts_s)  # the arrival time of the packet it came from
    assert f.mono == pytest.approx(f.pts_s)


def test_output_size_keeps_aspect_and_even_numbers() -> None:
    assert output_size((1920, 1080), 640, None) == (640, 360)
    assert output_size((1920, 1080), None, 360) == (640, 360)
    assert output_size((768, 432), 300, None) == (300, 168)
    assert output_size((768, 432), None, None) == (768, 432)
    assert output_size((768, 432), 100, 100) == (100, 100)


@pytest.mark.slow
def test_live_1080p_camera_sampled_by_keyframes(rtsp: RtspDevServer) -> None:
    frames: list[SampledFrame] = []
    session = CameraSession(CameraConfig(id="hd", name="hd", url=rtsp.url("hd")), StreamSettings())
    sampler = FrameSampler("hd", 2.0, frames.append, width=640)
    session.attach(sampler)
    session.start()
    try:
        assert wait_until(lambda: len(frames) >= 4, 30)
    finally:
        session.stop()
    assert frames[-1].image.shape == (360, 640, 3)
    assert all(f.wall > 0 and f.mono > 0 for f in frames)
    gaps = np.diff([f.pts_s for f in frames[1:]])
    assert np.all(np.abs(gaps - 2.0) < 0.05)
    # GOP 2 s, interval 2 s: keyframes only once the GOP is known (the first GOP, 50 frames, is decoded).
    assert sampler.decoded <= 50 + len(frames)


def test_the_service_gives_each_sampler_its_cameras_max_interval(tmp_path: Path) -> None:
    """wall/runtime/analytics.py builds the samplers from cameras.yaml: analysis_max_interval reaches the sampler."""
    from streams import CameraHub
    from wall.config import load_config
    from wall.runtime.analytics import SiteAnalytics

    (tmp_path / "cameras.yaml").write_text(
        "cameras:\n"
        f"  - {{id: lot, name: lot, url: 'file:{CAR}', analysis_interval: 2, analysis_max_interval: 5}}\n"
        f"  - {{id: lobby, name: lobby, url: 'file:{CAR}'}}\n", encoding="utf-8")
    zone = "{zones: [{id: z, family: road_occupation, polygon: [[0, 0], [1, 0], [1, 1], [0, 1]]}]}"
    card = DEFAULT_CARD
    (tmp_path / "analytics.yaml").write_text(
        f"model: {card}\ncameras:\n  lot: {zone}\n  lobby: {zone}\n", encoding="utf-8")
    site = load_config(tmp_path)
    analytics = SiteAnalytics(site, CameraHub(site.cameras, site.server_file.streams))
    assert analytics.samplers["lot"].max_interval == 5.0
    assert analytics.samplers["lobby"].max_interval == analytics.samplers["lobby"].interval == 2.0
