"""Recording over the real app: a camera served by the real GStreamer RTSP server is recorded for minutes across a
camera restart (the server killed and started again on the same port), the index has the two ranges with the gap
between, playback from a time decodes (PyAV) to the source's picture of that time, export matches its range
within a GOP, an H.265 camera exports as H.264 on request, every playback route is a 404 without the playback
right, and playback and export are audited."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import av
import httpx
import pytest

from tests.browser_helpers import cameras_yaml
from tests.conftest import LiveServer, SiteStarter, wait_until
from tests.hevc_helpers import hevc_clip
from tests.recording_helpers import (
    FPS,
    GOP_FRAMES,
    LOOP_SECONDS,
    RECORDING_SERVER_YAML,
    counted_camera,
    decoded,
    frame_index,
    grant_playback,
    picture_key,
)
from tests.test_access import audit_rows

pytestmark = pytest.mark.slow


def ranges(client: httpx.Client, camera: str, start: float) -> list[dict]:
    res = client.get(f"/api/playback/{camera}/timeline", params={"start": start, "end": time.time() + 60})
    assert res.status_code == 200, res.text
    return res.json()["ranges"]


MINUTE_SEGMENTS = 36  # 2 s segments: a bit over a minute on each side of the restart, minutes in all


@pytest.mark.timeout(600)
def test_recording_across_a_restart_playback_export_and_rights(serve_site: SiteStarter, own_rtsp,
                                                                 tmp_path: Path) -> None:
    short, looped = counted_camera(tmp_path)
    hevc = hevc_clip(tmp_path, seconds=600)
    server = own_rtsp(cam=looped)
    hevc_server = own_rtsp(hevc=hevc)
    began = time.time()
    site: LiveServer = serve_site(cameras_yaml(("cam", "计数", server.url("cam")),
                                               ("hevc", "H.265", hevc_server.url("hevc"))), RECORDING_SERVER_YAML)
    admin = site.client()
    assert wait_until(lambda: [r["segments"] for r in ranges(admin, "cam", began)][-1:] >= [MINUTE_SEGMENTS], 180)

    # the camera goes away for a while and comes back on the same address
    port = server.port
    server.kill()
    services = site.app.state.services
    assert wait_until(lambda: services.runtime.camera_statuses_now()[0].health.state != "live", 20)
    down = time.time()
    time.sleep(3)
    own_rtsp(port=port, cam=looped)
    assert wait_until(lambda: len(ranges(admin, "cam", began)) >= 2
                      and ranges(admin, "cam", began)[-1]["segments"] >= MINUTE_SEGMENTS, 180)
    first, second = ranges(admin, "cam", began)[-2:]
    assert first["end"] <= down + 0.5 and second["start"] - first["end"] >= 3, (first, second)
    for stretch in (first, second):  # a minute and more of 2 s segments each, none missing inside a range
        seconds = stretch["end"] - stretch["start"]
        assert seconds >= (MINUTE_SEGMENTS - 1) * 2 and stretch["segments"] >= seconds / 2 - 1, stretch
    status = services.runtime.camera_statuses_now()[0].recording
    assert status is not None and status.state == "recording" and status.segments >= 2 * MINUTE_SEGMENTS
    listed = {c["id"]: c for c in admin.get("/api/cameras").json()}
    assert listed["cam"]["recording"] == "recording" and listed["cam"]["recording_error"] is None
    metrics = httpx.get(f"{site.url}/metrics").text
    assert 'citywall_recording_state{camera="cam",state="recording"} 1.0' in metrics
    assert 'citywall_recording_state{camera="cam",state="failing"} 0.0' in metrics

    # rights: live view alone is not playback; every playback route answers as for a camera that does not exist
    site.add_user("eve", "viewer", grants=("cam",))
    site.add_user("ivan", "viewer")
    grant_playback(site, "ivan", "cam")
    eve, ivan = site.client("eve"), site.client("ivan")
    middle = second["start"] + 2.30  # inside its second segment (2 s each), as is middle + 1.2
    for path, params in (("timeline", {"start": began, "end": time.time()}), ("video", {"start": middle}),
                         ("export.mp4", {"start": middle, "end": middle + 2})):
        assert eve.get(f"/api/playback/cam/{path}", params=params).status_code == 404
        assert eve.get(f"/api/playback/nope/{path}", params=params).status_code == 404
        assert ivan.get(f"/api/playback/hevc/{path}", params=params).status_code == 404
    assert ivan.get("/api/playback/cam/timeline", params={"start": began, "end": time.time()}).status_code == 200
    assert ivan.get("/api/playback/cam/timeline", params={"start": 10, "end": 5}).status_code == 400

    # playback from a time: the picture there is the source's picture of that time (every frame is numbered)
    numbers = frame_index(short)
    res = ivan.get("/api/playback/cam/video", params={"start": middle, "seconds": 4})
    assert res.status_code == 200 and res.headers["content-type"] == "video/mp4"
    first_wall = float(res.headers["x-start"])
    assert middle - GOP_FRAMES / FPS <= first_wall <= middle
    frames = decoded(res.content, tmp_path)
    assert all(picture_key(img) in numbers for _, img in frames), "stream copy: the camera's own pictures"
    seen = [numbers[picture_key(img)] for _, img in frames]
    assert all((b - a) % (FPS * LOOP_SECONDS) == 1 for a, b in itertools.pairwise(seen))
    shown_at = next(t for t, _ in frames if first_wall + t >= middle - 1e-3)
    assert first_wall + shown_at - middle < 1 / FPS
    later = ivan.get("/api/playback/cam/video", params={"start": middle + 1.2, "seconds": 2})
    later_frames = decoded(later.content, tmp_path, "later.mp4")
    later_wall = float(later.headers["x-start"])
    at_later = next(img for t, img in later_frames if later_wall + t >= middle + 1.2 - 1e-3)
    at_middle = next(img for t, img in frames if first_wall + t >= middle - 1e-3)
    step = (numbers[picture_key(at_later)] - numbers[picture_key(at_middle)]) % (FPS * LOOP_SECONDS)
    assert step == round(1.2 * FPS), "two seeks 1.2 s apart show frames 30 apart"

    # export: a regular MP4 whose duration matches the range within one GOP
    start, end = second["start"] + 1.3, second["start"] + 5.7
    res = ivan.get("/api/playback/cam/export.mp4", params={"start": start, "end": end})
    assert res.status_code == 200 and "attachment" in res.headers["content-disposition"]
    exported = decoded(res.content, tmp_path, "export.mp4")
    assert abs(exported[-1][0] + 1 / FPS - (end - start)) <= GOP_FRAMES / FPS
    assert ivan.get("/api/playback/cam/export.mp4", params={"start": start, "end": start + 86400}).status_code == 400

    # an H.265 camera's export as H.264, for a player without H.265
    h_start = ranges(admin, "hevc", began)[0]["start"] + 0.5
    res = admin.get("/api/playback/hevc/export.mp4", params={"start": h_start, "end": h_start + 3})
    raw = tmp_path / "hevc.mp4"
    raw.write_bytes(res.content)
    with av.open(str(raw)) as c:
        assert c.streams.video[0].codec_context.name == "hevc"
    res = admin.get("/api/playback/hevc/export.mp4", params={"start": h_start, "end": h_start + 3, "codec": "h264"})
    raw.write_bytes(res.content)
    with av.open(str(raw)) as c:
        assert c.streams.video[0].codec_context.name == "h264"
        assert len([f for f in c.decode(video=0)]) >= 2 * FPS

    # and its playback as H.264 while it plays (a browser without H.265): the same times, another codec
    res = admin.get("/api/playback/hevc/video", params={"start": h_start, "seconds": 2})
    assert "hvc1" in res.headers["x-mime"]
    res_h264 = admin.get("/api/playback/hevc/video", params={"start": h_start, "seconds": 2, "codec": "h264"})
    assert res_h264.status_code == 200 and "avc1" in res_h264.headers["x-mime"]
    assert res_h264.headers["x-start"] == res.headers["x-start"]
    as_h264 = decoded(res_h264.content, tmp_path, "hevc-h264.mp4")
    assert len(as_h264) == len(decoded(res.content, tmp_path, "hevc-own.mp4")) >= 2 * FPS

    # audited: who watched which minute, who exported what
    views = audit_rows(site, user="ivan", action="playback.view")
    assert views and all(v["target"] == "camera:cam" for v in views)
    exports = audit_rows(site, user="ivan", action="playback.export")
    assert len(exports) == 1 and exports[0]["target"] == "camera:cam"
    assert not audit_rows(site, user="eve", action="playback.view")
