"""视频立案 from a paused playback: the frame on screen at a recorded moment (decoded from real segment files a
real recorder wrote), and over the real app — a camera served by the real GStreamer RTSP server, recorded, an
operator with the playback right files a case at a moment in the recording: the still is the source's frame of
that moment at full resolution, the clip the recording around it, the case's observed time that moment; the
refusals (no playback right, not a decider, a moment in the future, a moment not recorded, bad body) and the
audit."""

from __future__ import annotations

import io
import time
from datetime import datetime
from pathlib import Path

import av
import cv2
import httpx
import numpy as np
import pytest

from streams.devserver.clips import synthetic_clip
from streams.playback import NothingRecorded, SegmentSource
from streams.playback_still import picture_at
from streams.recording_config import RecordingPlan
from tests.browser_helpers import cameras_yaml
from tests.conftest import LiveServer, SiteStarter, wait_until
from tests.recording_helpers import (
    FPS,
    LOOP_SECONDS,
    RECORDING_SERVER_YAML,
    SIZE,
    counted_camera,
    decoded,
    frame_index,
    grant_playback,
    picture_key,
)
from tests.streams_helpers import timed_packets
from tests.test_access import audit_rows
from tests.test_recording import WALL0, record

BOX = [0.2, 0.25, 0.55, 0.75]


def rgb_of_jpeg(data: bytes) -> np.ndarray:
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert bgr is not None, "not a JPEG"
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB).astype(np.int16)


def closest(image: np.ndarray, candidates: dict[int, np.ndarray]) -> int:
    """The candidate frame the (JPEG-compressed) picture is: the one it differs least from."""
    return min(candidates, key=lambda n: float(np.abs(image - candidates[n].astype(np.int16)).mean()))


def test_the_still_is_the_frame_a_player_shows_at_the_moment_not_the_keyframe(tmp_path: Path) -> None:
    clip = synthetic_clip(tmp_path / "src.mp4", width=320, height=180, fps=25, gop=25, seconds=8)
    _, segments = record(timed_packets(clip), tmp_path, RecordingPlan(mode="continuous", segment_seconds=3))
    sources = [SegmentSource(tmp_path / s.relative, s.start) for s in segments]
    with av.open(str(clip)) as c:
        source = dict(enumerate(f.to_ndarray(format="rgb24") for f in c.decode(video=0)))
    for at, frame in ((WALL0 + 4.53, 113), (WALL0 + 4.0, 100), (WALL0 + 3.99, 99), (WALL0 + 0.0, 0)):
        shown = picture_at(sources[[s.start <= at for s in segments].count(True) - 1:], at)
        assert (shown.still.width, shown.still.height) == (320, 180)
        assert closest(rgb_of_jpeg(shown.still.jpeg), source) == frame, at  # mid-GOP: not the keyframe before
        assert shown.wall == pytest.approx(WALL0 + frame / 25, abs=1e-3)
    last = picture_at(sources[-1:], WALL0 + 7.99)  # the recording's last frame, from the decoder's flush
    assert closest(rgb_of_jpeg(last.still.jpeg), source) == 199
    with pytest.raises(NothingRecorded):
        picture_at(sources, WALL0 - 0.5)  # before the recording


def post(client: httpx.Client, site: LiveServer, body: dict) -> httpx.Response:
    return client.post("/api/playback/cases", json=body, headers={"Origin": site.origin})


@pytest.mark.slow
def test_an_operator_files_a_case_from_a_recorded_moment(serve_site: SiteStarter, own_rtsp, tmp_path: Path) -> None:
    short, looped = counted_camera(tmp_path)
    server = own_rtsp(cam=looped)
    began = time.time()
    site = serve_site(cameras_yaml(("cam", "计数", server.url("cam"))), RECORDING_SERVER_YAML)
    site.add_user("ivan", "operator", grants=("cam",))
    grant_playback(site, "ivan", "cam")
    site.add_user("eve", "operator", grants=("cam",))  # live view, no playback
    site.add_user("vic", "viewer", grants=("cam",))
    grant_playback(site, "vic", "cam")  # playback, but may not decide cases
    ivan = site.client("ivan")

    def recorded() -> list[dict]:
        res = ivan.get("/api/playback/cam/timeline", params={"start": began, "end": time.time() + 60})
        return res.json()["ranges"] if res.status_code == 200 else []

    assert wait_until(lambda: sum(r["segments"] for r in recorded()) >= 4, 60)
    first = recorded()[0]
    # the moment to file: mid-GOP in the recording; PyAV's decode of the playback there says what is on screen
    chunk = ivan.get("/api/playback/cam/video", params={"start": first["start"] + 2.5, "seconds": 2})
    chunk_start = float(chunk.headers["x-start"])
    at = round(chunk_start + 0.53, 3)
    on_screen = next(img for t, img in reversed(decoded(chunk.content, tmp_path)) if chunk_start + t <= at)
    numbers = frame_index(short)
    expected = numbers[picture_key(on_screen)]
    loop = FPS * LOOP_SECONDS
    with av.open(str(short)) as c:
        near = {n: f.to_ndarray(format="rgb24") for n, f in enumerate(c.decode(video=0))
                if (n - expected) % loop in (*range(0, 14), *range(loop - 13, loop))}

    defaults = ivan.get("/api/playback/cam/filing")
    assert defaults.status_code == 200 and defaults.json()["camera"] == "cam"
    still = ivan.get("/api/playback/cam/still.jpg", params={"at": at})
    assert still.status_code == 200 and still.headers["content-type"] == "image/jpeg"
    assert rgb_of_jpeg(still.content).shape[:2] == (SIZE[1], SIZE[0])  # the recorded stream's full size
    assert closest(rgb_of_jpeg(still.content), near) == expected, "the frame on screen, not the keyframe"
    assert float(still.headers["x-frame"]) <= at + 1e-3

    res = post(ivan, site, {"camera": "cam", "code": "0501", "box": BOX, "description": "回放中发现占道经营",
                            "at": at, "address": "东门外"})
    assert res.status_code == 201, res.text
    case = res.json()
    assert (case["status"], case["source"], case["decided_by"]) == ("confirmed", "patrol", "ivan")
    assert case["address"] == "东门外"
    record_ = ivan.get(f"/api/cases/{case['id']}").json()
    for key in ("first_seen", "last_seen"):  # observed at the recorded moment, not when it was filed
        assert datetime.fromisoformat(record_[key]).timestamp() == pytest.approx(at, abs=1e-3)
    assert datetime.fromisoformat(record_["raised_at"]).timestamp() > at + 1
    links = {e["kind"]: e["url"] for e in record_["evidence"]}
    assert set(links) == {"snapshot", "clip"} and record_["missing_evidence"] == []
    snapshot = ivan.get(links["snapshot"]).content
    assert closest(rgb_of_jpeg(snapshot), near) == expected
    assert record_["place_box"] == pytest.approx([BOX[0] * SIZE[0], BOX[1] * SIZE[1], BOX[2] * SIZE[0],
                                                  BOX[3] * SIZE[1]], abs=0.1)
    # the clip: the recording around the moment, by stream copy (the camera's own pictures), holding the moment
    clip = ivan.get(links["clip"]).content
    with av.open(io.BytesIO(clip), "r") as kept:
        pictures = [numbers.get(picture_key(f.to_ndarray(format="rgb24"))) for f in kept.decode(video=0)]
    assert None not in pictures and expected in pictures
    assert len(pictures) >= pictures.index(expected) + 1 >= 2 * FPS  # seconds before it (recorded since began)
    marks = ivan.get("/api/playback/cam/timeline", params={"start": began, "end": time.time()}).json()["marks"]
    assert [m["case_id"] for m in marks] == [case["id"]] and marks[0]["start"] == pytest.approx(at, abs=1e-3)

    filed = [r for r in audit_rows(site, action="case_file") if r["success"]]
    assert len(filed) == 1 and filed[0]["user"] == "ivan" and filed[0]["target"] == f"case:{case['id']}"
    assert filed[0]["detail"]["origin"] == "playback" and filed[0]["detail"]["at"] == pytest.approx(at)
    assert any(r["user"] == "ivan" for r in audit_rows(site, action="playback.view"))

    # refusals: no playback right → 404 like a camera that does not exist; not a decider → 403; bad moments
    eve, vic = site.client("eve"), site.client("vic")
    body = {"camera": "cam", "code": "0501", "box": BOX, "description": "x", "at": at}
    assert eve.get("/api/playback/cam/filing").status_code == 404
    assert eve.get("/api/playback/cam/still.jpg", params={"at": at}).status_code == 404
    assert post(eve, site, body).status_code == 404
    assert ivan.get("/api/playback/nope/still.jpg", params={"at": at}).status_code == 404
    assert post(ivan, site, {**body, "camera": "nope"}).status_code == 404
    assert vic.get("/api/playback/cam/filing").status_code == 403
    assert vic.get("/api/playback/cam/still.jpg", params={"at": at}).status_code == 403
    assert post(vic, site, body).status_code == 403
    future = time.time() + 600
    assert ivan.get("/api/playback/cam/still.jpg", params={"at": future}).status_code == 422
    res = post(ivan, site, {**body, "at": future})
    assert res.status_code == 422 and "future" in res.text
    before = began - 120
    assert ivan.get("/api/playback/cam/still.jpg", params={"at": before}).status_code == 404
    res = post(ivan, site, {**body, "at": before})
    assert res.status_code == 404 and "nothing recorded" in res.text
    assert post(ivan, site, {**body, "code": "9999"}).status_code == 422
    assert post(ivan, site, {**body, "box": [0.5, 0.5, 0.2, 0.9]}).status_code == 422
    assert post(ivan, site, {**body, "at": -1}).status_code == 422
    assert post(ivan, site, {**body, "seconds_ago": 5}).status_code == 422  # a playback filing has no ring time
    assert ivan.get("/api/playback/cam/still.jpg").status_code == 422
    assert len(ivan.get("/api/cases").json()["items"]) == 1, "no refusal filed a case"
    refused = [r for r in audit_rows(site, action="case_file") if not r["success"]]
    assert {r["detail"]["origin"] for r in refused} == {"playback"} and len(refused) >= 3
