"""录像回放 in a real browser: an operator with the playback right opens a tile's playback, types a time, and the
paused picture is the source's frame of that time (Debian chromium decodes it; PyAV decodes the source); a frame
step moves one frame on; F files a case from that paused frame (the dialog's still and the case's snapshot are
that frame, the case's observed time the paused moment, shown on the desk); 4× plays faster than real time; an
H.265 camera plays as H.264, and with every transcode slot of the box taken (``recording.max_transcodes``) the
panel says so, asks again and plays once one is free (an H.264 export likewise says so, then downloads); a
user with the live view alone is told there is no playback. Real app, real GStreamer RTSP camera whose every
frame is numbered (testsrc2)."""

from __future__ import annotations

import base64
import contextlib
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
from tests.test_filing_browser import STILL_SHOWN
from wall.recording.transcodes import TranscodesFull, TranscodeSlot, TranscodeSlots

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
LAST_SEEN = """() => { const dts = [...document.querySelectorAll('[data-testid="case-facts"] dt')];
  const dt = dts.find((d) => d.textContent === '最近看到'); return dt ? dt.nextElementSibling.textContent : null; }"""
DESK_TIME = """(ms) => new Intl.DateTimeFormat('zh-CN', { month: '2-digit', day: '2-digit', hour: '2-digit',
  minute: '2-digit', second: '2-digit', hour12: false }).format(new Date(ms))"""
BUSY_NOTE = ("([words]) => document.querySelector('[data-camera=\"hevc\"] [data-testid=\"pb-note\"]')"
             "?.textContent.includes(words)")
HEVC_WALL = ("() => Number(document.querySelector('[data-camera=\"hevc\"] [data-testid=\"pb-clock\"]')"
             "?.dataset.wall || 0)")


def take_every_slot(slots: TranscodeSlots) -> list[TranscodeSlot]:
    """Every transcode slot of the box, as soon as the page's own chunks have given theirs back."""
    held: list[TranscodeSlot] = []

    def more() -> bool:
        with contextlib.suppress(TranscodesFull):
            held.append(slots.acquire())
        return len(held) == slots.cap

    assert wait_until(more, 10)
    return held


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

    # 视频立案 from the paused frame: F (the live tile's key) opens the filing dialog over the recorded frame
    paused_at = page.evaluate(WALL)
    page.keyboard.press("f")
    dialog = page.get_by_test_id("filing-dialog")
    dialog.wait_for(state="visible")
    page.wait_for_function(STILL_SHOWN, timeout=STATE_TIMEOUT_MS, polling=250)
    assert page.get_by_test_id("filing-moment").is_disabled()
    picture = page.get_by_test_id("filing-still").bounding_box()
    assert picture is not None
    page.mouse.move(picture["x"] + 0.2 * picture["width"], picture["y"] + 0.3 * picture["height"])
    page.mouse.down()
    page.mouse.move(picture["x"] + 0.6 * picture["width"], picture["y"] + 0.8 * picture["height"], steps=6)
    page.mouse.up()
    page.get_by_test_id("filing-code").select_option("0501")
    page.get_by_test_id("filing-description").fill("回放中发现占道经营")
    page.keyboard.press("Enter")
    dialog.wait_for(state="detached")
    page.wait_for_function("() => document.querySelector('[data-testid=\"pb-note\"]').textContent.includes('已立案')",
                           timeout=STATE_TIMEOUT_MS, polling=250)
    page.wait_for_function("() => document.querySelectorAll('[data-testid=\"playback\"] .pb-mark').length === 1",
                           timeout=STATE_TIMEOUT_MS, polling=250)  # the new case's mark on the timeline
    (filed,) = client.get("/api/cases").json()["items"]
    assert (filed["status"], filed["source"]) == ("confirmed", "patrol")
    assert datetime.fromisoformat(filed["last_seen"]).timestamp() == pytest.approx(paused_at, abs=1e-3)
    record = client.get(f"/api/cases/{filed['id']}").json()
    snapshot = next(e["url"] for e in record["evidence"] if e["kind"] == "snapshot")
    kept = cv2.imdecode(np.frombuffer(client.get(snapshot).content, np.uint8), cv2.IMREAD_COLOR)
    assert closest(cv2.cvtColor(kept, cv2.COLOR_BGR2RGB).astype(np.int16), expected + 1) == (expected + 1) % loop

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

    # an H.265 camera: this chromium has no HEVC decoder, so the panel asks for H.264 and plays that; with every
    # transcode slot of the box taken the server answers 503 and the panel says so, then asks again
    slots = site.app.state.services.recordings.transcodes
    held = take_every_slot(slots)
    hevc_tile = page.locator('#wall [data-testid="tile"][data-camera="hevc"]').first
    hevc_tile.hover()
    hevc_tile.get_by_test_id("tile-playback").click()
    hevc_panel = hevc_tile.get_by_test_id("playback")
    hevc_note = hevc_panel.get_by_test_id("pb-note")
    page.wait_for_function(BUSY_NOTE, arg=["秒后重试"], timeout=STATE_TIMEOUT_MS, polling=100)
    assert hevc_note.text_content() == "服务器同时转码的录像已达上限（recording.max_transcodes），5 秒后重试"
    for slot in held:
        slot.release()
    page.wait_for_function(f"() => ({HEVC_WALL})() > 0", timeout=STATE_TIMEOUT_MS, polling=100)
    hevc_panel.get_by_test_id("pb-play").click()
    start = page.evaluate(HEVC_WALL)
    page.wait_for_function(f"() => ({HEVC_WALL})() > {start + 1}", timeout=STATE_TIMEOUT_MS, polling=100)
    assert hevc_note.text_content() == ""
    assert wait_until(lambda: slots.in_use == 0, 10)  # each chunk's slot back once it was sent
    # its export as H.264: refused while the slots are taken (said in the panel), then downloaded
    hevc_panel.get_by_test_id("pb-play").click()  # pause: the panel has its chunks ahead, it asks for no more
    held = take_every_slot(slots)
    hevc_panel.get_by_test_id("pb-export").click()
    page.wait_for_function(BUSY_NOTE, arg=["再导出"], timeout=STATE_TIMEOUT_MS, polling=100)
    for slot in held:
        slot.release()
    with page.expect_download() as download_info:
        hevc_panel.get_by_test_id("pb-export").click()
    exported = tmp_path / "hevc-export.mp4"
    download_info.value.save_as(exported)
    assert download_info.value.suggested_filename.startswith("hevc-")
    with av.open(str(exported)) as c:
        assert c.streams.video[0].codec_context.name == "h264"
    assert hevc_note.text_content() == ""

    # the desk shows the case filed from playback with the recorded moment as its time last seen
    page.goto(site.url + "/desk")
    page.get_by_test_id("filter-status").select_option("confirmed")
    row = page.locator(f'[data-testid="case-row"][data-case="{filed["id"]}"]')
    row.wait_for(state="visible")
    assert row.locator(".row-source").inner_text() == "视频巡查"
    row.click()
    page.wait_for_function("() => document.querySelector('[data-testid=\"case-status\"]').textContent === '已确认'",
                           timeout=STATE_TIMEOUT_MS, polling=250)
    seen = page.evaluate(LAST_SEEN)
    assert seen == page.evaluate(DESK_TIME, paused_at * 1000), "observed at the paused moment, not when filed"
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
