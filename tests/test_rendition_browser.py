"""An H.265 camera on the wall in headless Debian chromium, which has no HEVC decoder (issue 14 item 1).

Real parts only: an H.265 clip made with libx265 at test time, served by the real GStreamer RTSP server
(rtph265pay); the real app on a loopback port with ``server.live.renditions: 1``; two browser contexts (two
seats). The tile asks the browser whether it can decode the camera's own ``hvc1`` codec string, cannot, and
asks the server for the H.264 rendition: its clock advances, frames decode, the badge shows. The second seat
watching the same camera shares that one rendition (the registry's counter and /metrics say 1 rendition, 2
viewers); the second H.265 camera on the wall is past the cap of one and its tile shows stills with the
message; when both seats leave, the rendition stops.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from streams.devserver.rtsp import RtspDevServer
from tests.browser_helpers import PLAY_TIMEOUT_MS, STATE_TIMEOUT_MS, cameras_yaml, open_page, screenshot
from tests.conftest import wait_until
from tests.hevc_helpers import hevc_clip

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

    from tests.conftest import LiveServer, SiteStarter

pytestmark = [pytest.mark.browser, pytest.mark.slow]

HEVC_PLAYABLE = "() => MediaSource.isTypeSupported('video/mp4; codecs=\"hvc1.1.6.L63.90\"')"
# The tile of `camera` plays the rendition: badge shown, clock past `after` s, frames decoded.
PLAYS_RENDITION = """([camera, after]) => {
  const tile = document.querySelector(`#wall [data-testid="tile"][data-camera="${camera}"]`);
  const v = tile && tile.querySelector('video');
  return Boolean(v) && tile.dataset.rendition === 'h264' && v.currentTime > after
    && v.getVideoPlaybackQuality().totalVideoFrames > 0;
}"""
REFUSED = """(camera) => {
  const tile = document.querySelector(`#wall [data-testid="tile"][data-camera="${camera}"]`);
  const note = tile && tile.querySelector('.rendition.full');
  return Boolean(note) && tile.classList.contains('still') && tile.dataset.rendition === 'full'
    && (tile.querySelector('img').getAttribute('src') || '').includes('snapshot.jpg');
}"""
TILE_INFO = """(camera) => {
  const tile = document.querySelector(`#wall [data-testid="tile"][data-camera="${camera}"]`);
  const v = tile.querySelector('video');
  return { time: v.currentTime, frames: v.getVideoPlaybackQuality().totalVideoFrames,
           badge: tile.querySelector('.rendition')?.textContent, title: tile.querySelector('.rendition')?.title };
}"""


@pytest.fixture(scope="module")
def hevc_rtsp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RtspDevServer]:
    server = RtspDevServer({"hevc": hevc_clip(tmp_path_factory.mktemp("hevc"))}).start()
    yield server
    server.stop()


def metric(site: LiveServer, name: str, camera: str) -> float:
    text = httpx.get(f"{site.url}/metrics", timeout=20).text
    found = re.search(rf'^{name}{{camera="{re.escape(camera)}"}} (\S+)$', text, re.M)
    assert found, f"{name} for {camera} missing"
    return float(found.group(1))


def test_an_h265_camera_plays_through_one_shared_h264_rendition_within_the_cap(
        serve_site: SiteStarter, hevc_rtsp: RtspDevServer, browser: Browser, page: Page, page_errors: list[str],
        tmp_path: Path) -> None:
    site = serve_site(cameras_yaml(("h265-a", "南门 H.265", hevc_rtsp.url("hevc")),
                                   ("h265-b", "北门 H.265", hevc_rtsp.url("hevc"))),
                      f"server:\n  data_dir: {tmp_path / 'data'}\n  live: {{renditions: 1}}\n")
    runtime = site.app.state.services.runtime
    registry = runtime.renditions
    statuses = site.client().get("/api/cameras").json()
    assert wait_until(lambda: all(c.get("codec") == "hevc" for c in site.client().get("/api/cameras").json()),
                      30), statuses

    open_page(page, site, "/")
    assert page.evaluate(HEVC_PLAYABLE) is False  # the case in hand: this browser cannot decode H.265
    page.wait_for_function("() => document.querySelectorAll('#wall [data-testid=\"tile\"][data-rendition]').length"
                           " === 2", timeout=STATE_TIMEOUT_MS, polling=250)
    kinds = page.evaluate("() => Object.fromEntries([...document.querySelectorAll('#wall [data-testid=\"tile\"]"
                          "[data-rendition]')].map((t) => [t.dataset.camera, t.dataset.rendition]))")
    assert sorted(kinds.values()) == ["full", "h264"], kinds  # one rendition (the cap), the other camera stills
    playing = next(c for c, k in kinds.items() if k == "h264")
    refused = next(c for c, k in kinds.items() if k == "full")
    page.wait_for_function(PLAYS_RENDITION, arg=[playing, 2.0], timeout=PLAY_TIMEOUT_MS, polling=250)
    page.wait_for_function(REFUSED, arg=refused, timeout=STATE_TIMEOUT_MS, polling=250)
    first = page.evaluate(TILE_INFO, playing)
    assert first["badge"] == "转码" and "H.264" in first["title"]
    note = page.evaluate(TILE_INFO, refused)
    assert note["badge"] == "转码已满·静态画面" and "at most 1" in note["title"]
    screenshot(page, "h265-rendition-wall.png")

    assert [(i.camera_id, i.viewers) for i in registry.active()] == [(playing, 1)] and registry.started == 1
    assert registry.refused >= 1

    # a second seat: its tile of the same camera shares the running rendition
    context = browser.new_context(viewport={"width": 1280, "height": 760}, locale="zh-CN")
    try:
        other = context.new_page()
        other.set_default_timeout(STATE_TIMEOUT_MS)
        open_page(other, site, "/")
        other.wait_for_function(PLAYS_RENDITION, arg=[playing, 2.0], timeout=PLAY_TIMEOUT_MS, polling=250)
        assert [(i.camera_id, i.viewers) for i in registry.active()] == [(playing, 2)]
        assert registry.started == 1  # shared, not made again
        assert metric(site, "citywall_live_renditions", playing) == 1
        assert metric(site, "citywall_live_rendition_viewers", playing) == 2
        assert metric(site, "citywall_live_renditions", refused) == 0
        # the first seat's video is still live while the second watches
        later = page.evaluate(TILE_INFO, playing)
        assert later["time"] > first["time"] and later["frames"] > first["frames"]
    finally:
        context.close()
    assert wait_until(lambda: [i.viewers for i in registry.active()] == [1], 20), registry.active()

    page.goto("about:blank")  # the last seat leaves: the rendition stops
    assert wait_until(lambda: registry.active() == [] and registry.stopped == 1, 20), registry.active()
    assert metric(site, "citywall_live_renditions", playing) == 0
    # the analytics and the ring keep the camera's own H.265 packets
    session = runtime.hub.get(playing)
    key = session.ring.latest_keyframe()
    assert key is not None and key.epoch.info.codec == "hevc"
    assert page_errors == []
