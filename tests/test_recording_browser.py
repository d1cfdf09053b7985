"""录像回放 in a real browser: an operator with the playback right opens a tile's playback, types a time, and the
paused picture is the source's frame of that time (Debian chromium decodes it; PyAV decodes the source); a frame
step moves one frame on; 4× plays faster than real time; a user with the live view alone is told there is no
playback. Real app, real GStreamer RTSP camera whose every frame is numbered (testsrc2)."""

from __future__ import annotations

import base64
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import av
import cv2
import numpy as np
import pytest

from tests.browser_helpers import STATE_TIMEOUT_MS, cameras_yaml, keep_for_docs, open_page, screenshot
from tests.conftest import wait_until
from tests.hevc_helpers import hevc_clip
from tests.recording_helpers import (
    FPS,
    LOOP_SECONDS,
    RECORDING_SERVER_YAML,
    counted_camera,
    decoded,
    frame_index,
    grant_playback,
    picture_key,
)

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from tests.conftest import SiteStarter

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PICTURE = """() => { const v = document.querySelector('[data-testid="playback"] video');
  const c = document.createElement('canvas'); c.width = v.videoWidth; c.height = v.videoHeight;
  c.getContext('2d').drawImage(v, 0, 0); return c.toDataURL('image/png'); }"""
SHOWN_AT = """([target]) => { const v = document.querySelector('[data-testid="playback"] video');
  const wall = Number(document.querySelector('[data-testid="pb-clock"]').dataset.wall);
  return v && v.readyState >= 2 && !v.seeking && Math.abs(wall - target) < 0.005; }"""
WALL = "() => Number(document.querySelector('[data-testid=\"pb-clock\"]').dataset.wall)"
HEVC_WALL = ("() => Number(document.querySelector('[data-camera=\"hevc\"] [data-testid=\"pb-clock\"]')"
             "?.dataset.wall || 0)")


def frames_near(path: Path, numbers: set[int]) -> dict[int, np.ndarray]:
    with av.open(str(path)) as c:
        return {n: f.to_ndarray(format="rgb24") for n, f in enumerate(c.decode(video=0)) if n in numbers}


def test_a_tile_plays_back_the_right_picture_at_a_typed_time(serve_site: SiteStarter, own_rtsp, page: Page,
                                                             page_errors: list[str], tmp_path: Path) -> None:
    short, looped = counted_camera(tmp_path)
    server = own_rtsp(cam=looped, hevc=hevc_clip(tmp_path, seconds=600))
    began = time.time()
    site = serve_site(cameras_yaml(("cam", "计数", server.url("cam")), ("hevc", "H.265", server.url("hevc"))),
                      RECORDING_SERVER_YAML)
    site.add_user("ivan", "operator", grants=("cam", "hevc"))
    grant_playback(site, "ivan", "cam")
    grant_playback(site, "ivan", "hevc")
    client = site.client("ivan")

    def recorded() -> list[dict]:
        res = client.get("/api/playback/cam/timeline", params={"start": began, "end": time.time() + 60})
        return res.json()["ranges"] if res.status_code == 200 else []

    assert wait_until(lambda: sum(r["segments"] for r in recorded()) >= 4, 60)
    # the picture to find: PyAV's decode of what the server plays back there, numbered against the source
    res = client.get("/api/playback/cam/video", params={"start": recorded()[0]["start"] + 2.5, "seconds": 2})
    chunk_start = float(res.headers["x-start"])
    target = round(chunk_start + 1.02, 3)  # mid-frame: 1.00 s after that keyframe is on screen
    frames = decoded(res.content, tmp_path)
    at_target = next(img for t, img in reversed(frames) if chunk_start + t <= target)
    numbers = frame_index(short)
    expected = numbers[picture_key(at_target)]
    loop = FPS * LOOP_SECONDS

    open_page(page, site, "/", "ivan")
    tile = page.locator('#wall [data-testid="tile"][data-camera="cam"]').first
    tile.wait_for(state="visible")
    tile.hover()
    tile.get_by_test_id("tile-playback").click()
    panel = tile.get_by_test_id("playback")
    panel.wait_for(state="visible")
    page.wait_for_function("() => document.querySelectorAll('[data-testid=\"playback\"] .pb-range').length > 0",
                           timeout=STATE_TIMEOUT_MS)
    panel.get_by_test_id("pb-time").fill(datetime.fromtimestamp(target).strftime("%H:%M:%S.%f")[:-3])
    panel.get_by_test_id("pb-time").press("Enter")
    page.wait_for_function(SHOWN_AT, arg=[target], timeout=STATE_TIMEOUT_MS, polling=100)

    def shown() -> np.ndarray:
        png = base64.b64decode(page.evaluate(PICTURE).split(",", 1)[1])
        bgr = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB).astype(np.int16)

    def closest(image: np.ndarray, around: int) -> int:
        near = [(around + d) % loop for d in range(-12, 13)]
        pictures = frames_near(short, set(near))
        return min(near, key=lambda n: float(np.abs(image - pictures[n].astype(np.int16)).mean()))

    assert closest(shown(), expected) == expected, "the browser shows the source's frame of the typed time"
    panel.get_by_test_id("pb-span").select_option("10")  # the timeline's last 10 minutes: the range shows
    page.wait_for_function("() => parseFloat(document.querySelector('[data-testid=\"playback\"] .pb-range')"
                           "?.style.width || 0) > 0.5", timeout=STATE_TIMEOUT_MS)
    keep_for_docs(screenshot(page, "recording-playback.png"), "recording-playback.png")

    # paused: one frame on
    panel.get_by_test_id("pb-step").click()
    page.wait_for_function(SHOWN_AT, arg=[target + 1 / FPS], timeout=STATE_TIMEOUT_MS, polling=100)
    assert closest(shown(), expected + 1) == (expected + 1) % loop

    # 4×: the recorded clock runs at least twice as fast as the real one
    panel.get_by_test_id("pb-speed").select_option("4")
    panel.get_by_test_id("pb-play").click()
    page.wait_for_function(f"() => ({WALL})() > {target + 0.5}", timeout=STATE_TIMEOUT_MS, polling=100)
    wall0, real0 = page.evaluate(WALL), time.monotonic()
    time.sleep(1.5)
    assert page.evaluate(WALL) - wall0 >= 2 * (time.monotonic() - real0) * 0.9
    assert page.evaluate("() => document.querySelector('[data-testid=\"playback\"] video').playbackRate") == 4
    panel.get_by_test_id("pb-close").click()
    panel.wait_for(state="detached")

    # an H.265 camera: this chromium has no HEVC decoder, so the panel asks for H.264 and plays that
    hevc_tile = page.locator('#wall [data-testid="tile"][data-camera="hevc"]').first
    hevc_tile.hover()
    hevc_tile.get_by_test_id("tile-playback").click()
    hevc_panel = hevc_tile.get_by_test_id("playback")
    page.wait_for_function(f"() => ({HEVC_WALL})() > 0", timeout=STATE_TIMEOUT_MS, polling=100)
    hevc_panel.get_by_test_id("pb-play").click()
    start = page.evaluate(HEVC_WALL)
    page.wait_for_function(f"() => ({HEVC_WALL})() > {start + 1}", timeout=STATE_TIMEOUT_MS, polling=100)
    assert hevc_panel.get_by_test_id("pb-note").text_content() == ""
    assert not page_errors


def test_without_the_playback_right_the_panel_says_so(serve_site: SiteStarter, own_rtsp, page: Page,
                                                      page_errors: list[str], tmp_path: Path) -> None:
    _, looped = counted_camera(tmp_path, seconds=120)
    server = own_rtsp(cam=looped)
    site = serve_site(cameras_yaml(("cam", "计数", server.url("cam"))), RECORDING_SERVER_YAML)
    site.add_user("eve", "viewer", grants=("cam",))
    open_page(page, site, "/", "eve")
    tile = page.locator('#wall [data-testid="tile"][data-camera="cam"]').first
    tile.wait_for(state="visible")
    tile.hover()
    tile.get_by_test_id("tile-playback").click()
    note = tile.get_by_test_id("pb-note")
    page.wait_for_function("() => document.querySelector('[data-testid=\"pb-note\"]')?.textContent.length > 0",
                           timeout=STATE_TIMEOUT_MS)
    assert note.text_content() == "无回放权限或没有录像"
    assert not page_errors
