"""The service with analytics.yaml: live RTSP camera → detector → event → evidence (snapshot + clip) over HTTP."""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import httpx
import numpy as np
import pytest

from streams.devserver.rtsp import RtspDevServer
from tests.conftest import wait_until
from wall.config import ConfigError, load_config

pytestmark = pytest.mark.slow

ANALYTICS = """
cameras:
  lobby:
    zones:
      - id: table
        family: street_stall
        code: "0501"
        require_object: false
        polygon: [[0.40, 0.70], [0.80, 0.70], [0.80, 1.0], [0.40, 1.0]]
        dwell_seconds: 8
        grace_seconds: 4
        clear_after_seconds: 6
        alarm_interval_seconds: 5
        confirm: {hits: 3, looks: 4}
"""


def test_live_event_with_snapshot_and_clip(rtsp: RtspDevServer, serve_site, tmp_path: Path) -> None:
    cameras = f"""
cameras:
  - {{id: lobby, name: 大厅, url: "{rtsp.url('person')}", analysis_interval: 2}}
  - {{id: lot, name: 停车场, url: "{rtsp.url('car')}"}}
"""
    site = serve_site(cameras, f"server:\n  data_dir: {tmp_path / 'data'}\n", ANALYTICS)
    client = site.client(timeout=10)

    def with_clip() -> list[dict]:
        events = client.get("/api/events").json()
        return [e for e in events if "clip" in e["evidence"]]

    # Visitors stay 10–25 s at the table: an event opens after 8 s of dwell; its clip is cut 5 s later.
    assert wait_until(with_clip, 120, 1.0)
    event = with_clip()[0]
    assert event["camera"] == "lobby" and event["code"] == "0501" and event["code_name"] == "无照经营游商"
    assert event["family"] == "street_stall" and event["zone"] == "table"
    snap = client.get(event["evidence"]["snapshot"])
    assert snap.status_code == 200 and snap.headers["content-type"] == "image/jpeg"
    image = cv2.imdecode(np.frombuffer(snap.content, np.uint8), cv2.IMREAD_COLOR)
    assert image.shape == (360, 640, 3)
    clip = client.get(event["evidence"]["clip"])
    assert clip.status_code == 200 and clip.headers["content-type"] == "video/mp4"
    path = tmp_path / "clip.mp4"
    path.write_bytes(clip.content)
    with av.open(str(path)) as c:
        frames = list(c.decode(video=0))
    assert frames[0].key_frame and len(frames) >= 10 * (event["dwell"] + 5)  # 10 fps: dwell + post-roll at least
    # Evidence is reachable only through an event: a guessed or unknown name is a 404.
    assert client.get("/api/evidence/" + "0" * 64 + ".jpg").status_code == 404
    assert client.get("/api/events", params={"camera": "lot"}).json() == []

    # Events and evidence follow the grants: a viewer of 'lot' sees neither the lobby's events nor its evidence
    # (404, exactly like a name that does not exist); a viewer granted the lobby sees the same event and files.
    site.add_user("lot-viewer", grants=("lot",))
    site.add_user("lobby-viewer", grants=("lobby",))
    other: httpx.Client = site.client("lot-viewer")
    granted: httpx.Client = site.client("lobby-viewer")
    assert other.get("/api/events").json() == []
    assert other.get("/api/events", params={"camera": "lobby"}).json() == []
    unknown = other.get("/api/evidence/" + "0" * 64 + ".jpg")
    for kind in ("snapshot", "clip"):
        hidden = other.get(event["evidence"][kind])
        assert (hidden.status_code, hidden.content) == (unknown.status_code, unknown.content), kind
    assert unknown.status_code == 404
    seen = granted.get("/api/events", params={"camera": "lobby"}).json()
    assert event["event_id"] in {e["event_id"] for e in seen}
    assert granted.get(event["evidence"]["snapshot"]).content == snap.content
    assert site.client(None).get("/api/events").status_code == 401

    # The wall's overlay: the zone and the latest detections (a person at the lobby table), in 0–1 of the picture
    overlay = granted.get("/api/cameras/lobby/overlay").json()
    assert [z["id"] for z in overlay["zones"]] == ["table"] and overlay["zones"][0]["family"] == "street_stall"
    assert overlay["looks"] > 0 and overlay["at"] is not None
    latest: list[dict] = []

    def person_seen() -> bool:  # the looped clip has stretches without anyone: wait for a look with a person
        latest[:] = granted.get("/api/cameras/lobby/overlay").json()["boxes"]
        return any(b["label"] == "person" for b in latest)

    assert wait_until(person_seen, 90, 1.0), latest
    overlay["boxes"] = latest
    assert all(0 <= v <= 1.0001 for b in overlay["boxes"] for v in b["box"]), overlay["boxes"]
    assert other.get("/api/cameras/lobby/overlay").status_code == 404, "like a camera that does not exist"
    assert other.get("/api/cameras/lot/overlay").json()["zones"] == [], "a camera without rules has none"


def test_analytics_config_errors_name_file_and_key(tmp_path: Path) -> None:
    (tmp_path / "cameras.yaml").write_text("cameras:\n  - {id: a, name: A, url: 'rtsp://10.0.0.1/x'}\n")
    (tmp_path / "analytics.yaml").write_text(
        "cameras:\n"
        "  ghost:\n    zones: []\n"
        "  a:\n    zones:\n      - {id: z, family: garbage, code: '0501', polygon: [[0,0],[1,0],[1,1]]}\n"
        "model: nowhere.yaml\n"
    )
    with pytest.raises(ConfigError) as err:
        load_config(tmp_path)
    shown = str(tmp_path / "analytics.yaml")
    assert f"{shown}: cameras.ghost: no camera with this id in cameras.yaml" in err.value.problems
    assert f"{shown}: model: model card '{tmp_path / 'nowhere.yaml'}' does not exist" in err.value.problems
    assert any(p.startswith(f"{shown}: cameras.a.zones[0].code: code '0501'") and "not a garbage code" in p
               for p in err.value.problems)
