"""An H.264 export of an H.265 recording whose client goes away gives its transcode slot back at once (a raw
socket closed; the playback panel closed in chromium, which aborts its request), and the box's two H.264 caps
are on /metrics.

Real parts: H.265 segments written by the real recorder into the site's storage and indexed, the real app under
uvicorn on a loopback port with ``recording.max_transcodes: 1``, the export asked for over a raw TCP socket (so
the test, not an HTTP library, decides when the connection closes), ``/metrics`` scraped over HTTP and parsed
as Prometheus does. The export covers five minutes of video, many seconds of re-encoding on any machine, so a
slot that came back because the transcode finished (the old behaviour) would show as ``stopped == 0``.
"""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlencode

import av
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from streams.export_h264 import ExportStopped, export_h264
from streams.playback import NothingRecorded, SegmentSource, export
from streams.recording_config import RecordingPlan
from tests.browser_helpers import STATE_TIMEOUT_MS, cameras_yaml, open_page
from tests.conftest import LiveServer, SiteStarter, wait_until
from tests.hevc_helpers import hevc_clip
from tests.streams_helpers import timed_packets
from tests.test_recording import record
from tests.test_recording_browser import SHOWN_AT
from wall.runtime.models import RecordedSegment
from wall.store.accounts import AuditEntry

if TYPE_CHECKING:
    from playwright.sync_api import Page

SERVER_YAML = """\
server:
  live: {renditions: 2}
recording:
  max_transcodes: 1
  retention_interval_seconds: 86400
"""
SLOT_BACK_SECONDS = 5.0  # the stop is seen within a frame's work; the rest is a loaded machine's scheduling


def scrape(site: LiveServer) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    res = httpx.get(f"{site.url}/metrics", timeout=20)
    assert res.status_code == 200, res.text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(res.text) for s in family.samples}


def transcodes(site: LiveServer) -> tuple[float, ...]:
    """(in use, cap, refused, stopped) of the box's H.264 re-encodes of recordings, as /metrics says."""
    got = scrape(site)
    return tuple(got[(f"citywall_recording_transcodes_{name}", ())]
                 for name in ("in_use", "cap", "refused_total", "stopped_total"))


def ask_export(site: LiveServer, params: dict[str, float | str]) -> socket.socket:
    """GET export.mp4 on a socket of our own, its answer left unread."""
    sock = socket.create_connection(("127.0.0.1", site.port), timeout=20)
    sock.sendall(f"GET /api/playback/cam/export.mp4?{urlencode(params)} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                 f"Cookie: {site.cookie()}\r\n\r\n".encode())
    return sock


def recorded_hevc(serve_site: SiteStarter, tmp_path: Path) -> tuple[LiveServer, float]:
    """The site, and a time 1.5 s into five minutes of H.265 recorded by the real recorder 15 minutes ago."""
    clip = hevc_clip(tmp_path, seconds=310)
    site = serve_site(cameras_yaml(("cam", "H.265", "rtsp://127.0.0.1:9/none")), SERVER_YAML)
    recordings = site.app.state.services.recordings
    _, segments = record(timed_packets(clip, wall0=time.time() - 900), recordings.root,
                         RecordingPlan(mode="continuous", segment_seconds=60))
    for s in segments:
        recordings.index.add(RecordedSegment(
            camera_id=s.camera_id, path=s.relative, start=s.start, end=s.end, frames=s.frames,
            keyframes=s.keyframes, size=s.size, codec=s.codec, width=s.width, height=s.height, params=s.params,
            reason=s.reason))
    recordings.index.flush()
    assert {s.codec for s in segments} == {"hevc"}
    return site, segments[0].start + 1.5


def test_export_h264_keeps_the_stream_copys_frames_and_times_and_stops_when_told(tmp_path: Path) -> None:
    """Below the web side: the one-pass H.264 export of real H.265 segments has the frames the stream copy has
    (from the keyframe at or before start: within one GOP of the range), at the same times; a set stop event
    ends it with ExportStopped and no file left; no segment is NothingRecorded."""
    _, segments = record(timed_packets(hevc_clip(tmp_path, seconds=8), wall0=1_000_000.0), tmp_path / "rec",
                         RecordingPlan(mode="continuous", segment_seconds=3))
    sources = [SegmentSource(tmp_path / "rec" / s.relative, s.start) for s in segments]
    start, end = segments[0].start + 1.3, segments[0].start + 5.7  # across a segment boundary
    copied = export(sources, start, end, tmp_path / "copy.mp4")
    made = export_h264(sources, start, end, tmp_path / "h264.mp4", threading.Event())
    assert (made.first_wall, made.frames, made.codec) == (copied.first_wall, copied.frames, "h264")
    assert made.first_wall <= start < made.first_wall + 1.0 and abs(made.duration - (end - start)) <= 1.0
    with av.open(str(made.path)) as c:
        times = [float(f.pts * f.time_base) for f in c.decode(video=0)]
    assert len(times) == copied.frames and times[0] == 0
    assert times[-1] == pytest.approx(made.last_wall - made.first_wall, abs=1e-4)
    stop = threading.Event()
    stop.set()
    with pytest.raises(ExportStopped):
        export_h264(sources, start, end, tmp_path / "stopped.mp4", stop)
    assert not (tmp_path / "stopped.mp4").exists()
    with pytest.raises(NothingRecorded):
        export_h264([], start, end, tmp_path / "none.mp4", threading.Event())  # the plan found no segment
    assert not (tmp_path / "none.mp4").exists()


@pytest.mark.slow
def test_an_abandoned_h264_export_frees_its_slot_and_metrics_show_both_caps(
        serve_site: SiteStarter, tmp_path: Path) -> None:
    site, start = recorded_hevc(serve_site, tmp_path)
    services = site.app.state.services
    slots = services.recordings.transcodes
    assert transcodes(site) == (0, 1, 0, 0)

    sock = ask_export(site, {"start": start, "end": start + 300, "codec": "h264"})
    try:
        assert wait_until(lambda: slots.in_use == 1, 20), "the export never took its slot"
        assert transcodes(site)[:2] == (1, 1)
        with site.client() as admin:
            refused = admin.get("/api/playback/cam/export.mp4", params={"start": start, "end": start + 2,
                                                                         "codec": "h264"})
        assert refused.status_code == 503 and "recording.max_transcodes" in refused.json()["detail"]
        time.sleep(0.5)
        assert slots.in_use == 1 and slots.stopped == 0, "still transcoding while its client waits"
    finally:
        sock.close()  # the operator closed the tab
    gone = time.monotonic()
    assert wait_until(lambda: slots.in_use == 0, 30)
    took = time.monotonic() - gone
    assert slots.stopped == 1, "the slot came back because the transcode ended, not because it was stopped"
    assert took < SLOT_BACK_SECONDS, f"the slot came back {took:.1f} s after the client went away"
    print(f"export stop: the slot was back {took:.2f} s after the socket closed", file=sys.stderr)
    assert transcodes(site) == (0, 1, 1, 1)
    with site.db.session() as s:
        rows = s.scalars(select(AuditEntry).where(AuditEntry.action == "playback.export")).all()
        assert [(r.success, json.loads(r.detail or "{}").get("stopped")) for r in rows] == [(False, "client gone")]

    with site.client() as admin:  # the freed slot serves the next export within the cap
        served = admin.get("/api/playback/cam/export.mp4", params={"start": start, "end": start + 4,
                                                                    "codec": "h264"})
    assert served.status_code == 200, served.text
    (tmp_path / "served.mp4").write_bytes(served.content)
    with av.open(str(tmp_path / "served.mp4")) as c:
        video = c.streams.video[0]
        assert video.codec_context.name == "h264"
        frames = sum(1 for _ in c.decode(video))
    assert 4 * 25 <= frames <= 5 * 25 + 1  # from the keyframe at or before start: within one 1 s GOP
    assert transcodes(site) == (0, 1, 1, 1)

    runtime = services.runtime  # a live rendition on this box counts against server.live.renditions
    rendition = runtime.renditions.acquire(runtime.hub.get("cam"), 640)
    try:
        got = scrape(site)
        assert got[("citywall_live_renditions_in_use", (("box", "local"),))] == 1
        assert got[("citywall_live_renditions_cap", ())] == 2
    finally:
        runtime.renditions.release(rendition)
    assert scrape(site)[("citywall_live_renditions_in_use", (("box", "local"),))] == 0


@pytest.mark.browser
@pytest.mark.slow
def test_closing_the_panel_during_an_h264_export_stops_it(serve_site: SiteStarter, tmp_path: Path, page: Page,
                                                          page_errors: list[str]) -> None:
    """In Debian chromium (no HEVC decoder): the panel plays the H.265 recording as H.264, the operator marks
    in and out five minutes apart and exports; while the server re-encodes, 返回实时 closes the panel, the page
    aborts its request and the server stops the re-encode and frees the slot."""
    site, start = recorded_hevc(serve_site, tmp_path)
    slots = site.app.state.services.recordings.transcodes
    open_page(page, site, "/")
    tile = page.locator('#wall [data-testid="tile"][data-camera="cam"]').first
    tile.hover()
    tile.get_by_test_id("tile-playback").click()
    panel = tile.get_by_test_id("playback")
    for at, mark in ((start + 0.5, ".pb-in"), (start + 298, ".pb-out")):
        panel.get_by_test_id("pb-time").fill(datetime.fromtimestamp(at).strftime("%H:%M:%S.%f")[:-3])
        panel.get_by_test_id("pb-time").press("Enter")
        # an H.265 recording's seek is re-encoded on the server: on a loaded CI box it has taken more than 45 s
        page.wait_for_function(SHOWN_AT, arg=[round(at, 3)], timeout=2 * STATE_TIMEOUT_MS, polling=100)
        panel.locator(mark).click()
    assert wait_until(lambda: slots.in_use == 0, 10)  # the playback chunks (H.264 too) gave theirs back
    panel.get_by_test_id("pb-export").click()
    assert wait_until(lambda: slots.in_use == 1, 20), "the export never took its slot"
    assert panel.get_by_test_id("pb-note").text_content() == "正在生成 H.264 导出文件…"
    panel.get_by_test_id("pb-close").click()
    panel.wait_for(state="detached")
    gone = time.monotonic()
    assert wait_until(lambda: slots.in_use == 0, 30)
    assert slots.stopped == 1, "the slot came back because the re-encode ended, not because it was stopped"
    took = time.monotonic() - gone
    assert took < SLOT_BACK_SECONDS, f"the slot came back {took:.1f} s after the panel closed"
    print(f"export stop: the slot was back {took:.2f} s after the panel closed", file=sys.stderr)
    assert page_errors == []
