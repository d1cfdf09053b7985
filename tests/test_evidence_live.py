"""Training-grade evidence on the live path (issue 15 item 1): a real RTSP camera with a main stream, the shipped
model, the real app. The camera's ring is set to 12 s and the dwell to 14 s, so the raise's own clip cannot reach
back to the visitor's arrival: the arrival clip, held since the first sighting, does. The main stream (the 1080p
mount) is opened for the raise and gives the full-resolution keyframe; the clean frame is the detector's 640 px.
"""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from streams.devserver.rtsp import RtspDevServer
from tests.conftest import SiteStarter, wait_until
from tests.test_live_analytics import ANALYTICS

pytestmark = pytest.mark.slow
KINDS = {"snapshot", "frame", "clip", "arrival_clip", "keyframe_main"}


def test_a_live_raise_keeps_the_clean_frame_the_arrival_and_a_main_stream_keyframe(
        rtsp: RtspDevServer, serve_site: SiteStarter, tmp_path: Path) -> None:
    cameras = (f'cameras:\n  - {{id: lobby, name: 大厅, url: "{rtsp.url("person")}", main_url: "{rtsp.url("hd")}", '
               "analysis_interval: 2}\n")
    server = f"server:\n  data_dir: {tmp_path / 'data'}\nstreams:\n  ring_seconds: 12\n"
    site = serve_site(cameras, server, ANALYTICS.replace("dwell_seconds: 8", "dwell_seconds: 14"))
    client = site.client(timeout=20)

    def complete() -> list[dict]:
        return [e for e in client.get("/api/events").json() if e["kind"] == "opened" and set(e["evidence"]) >= KINDS]

    assert wait_until(complete, 150, 1.0), client.get("/api/events").json()
    event = complete()[0]

    def picture(kind: str) -> np.ndarray:
        res = client.get(event["evidence"][kind])
        assert res.status_code == 200 and res.headers["content-type"] == "image/jpeg"
        image = cv2.imdecode(np.frombuffer(res.content, np.uint8), cv2.IMREAD_COLOR)
        assert image is not None
        return image

    def clip(kind: str) -> list[av.VideoFrame]:
        path = tmp_path / f"{kind}.mp4"
        path.write_bytes(client.get(event["evidence"][kind]).content)
        with av.open(str(path)) as container:
            return list(container.decode(video=0))

    frame, snapshot = picture("frame"), picture("snapshot")
    assert frame.shape == snapshot.shape == (360, 640, 3)  # the resolution the detector saw
    assert np.abs(frame.astype(int) - snapshot.astype(int)).mean() > 1.0  # one is drawn on, the other is not
    assert picture("keyframe_main").shape == (1080, 1920, 3)  # the main stream's full resolution

    dwell = event["t_wall"] - event["first_seen"]
    assert dwell >= 14
    arrival, raised = clip("arrival_clip"), clip("clip")
    assert arrival[0].key_frame and 8 <= len(arrival) / 10 <= 12  # 10 fps: ≈5 s before and after the arrival
    # the ring (12 s) had lost the arrival by the time the raise's clip was cut
    assert raised[0].key_frame and len(raised) / 10 < dwell + 10 - 1

    # the case keeps every kind as evidence, and the training label points at the clean frame
    [case] = [c for c in client.get("/api/cases", params={"camera": "lobby", "limit": 50}).json()["items"]
              if c["event_id"] == event["event_id"]] or [None]
    assert case is not None
    assert wait_until(lambda: {e["kind"] for e in client.get(f"/api/cases/{case['id']}").json()["evidence"]} >= KINDS,
                      30, 1.0)
