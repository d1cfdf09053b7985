"""视频立案 over the real app: an operator files a case from a real RTSP camera; the server's evidence, the
confirmation, the outbox to a real receiver, grants, refusals and the audit."""

from __future__ import annotations

import hashlib
import io
import json
import time
from pathlib import Path

import av
import httpx
import pytest

from streams.devserver.rtsp import RtspDevServer, free_port
from streams.stills import jpeg_size
from tests.case_helpers import Receiver
from tests.conftest import LiveServer, SiteStarter, wait_until

pytestmark = pytest.mark.slow

BOX = [0.25, 0.3, 0.6, 0.8]


def cameras_yaml(rtsp: RtspDevServer) -> str:
    return (
        "cameras:\n"
        f'  - {{id: car, name: 解放路口, url: "{rtsp.url("car")}", grid_code: "34010200100101", '
        "street: 解放路街道, community: 人民社区, address: 解放路 18 号}\n"
        f'  - {{id: person, name: 人民路, url: "{rtsp.url("person")}"}}\n'
        f'  - {{id: dark, name: 无信号, url: "rtsp://127.0.0.1:{free_port()}/none"}}\n')


def server_yaml(tmp_path: Path, receiver: Receiver) -> str:
    return (f"server:\n  data_dir: {tmp_path / 'data'}\n"
            f"platform:\n  webhook_url: {receiver.url}\n  secret: webhook-secret\n"
            "  backoff_initial: 0.05\n  backoff_max: 0.2\n")


def post(client: httpx.Client, site: LiveServer, body: dict) -> httpx.Response:
    return client.post("/api/cases", json=body, headers={"Origin": site.origin})


def filing(**changes: object) -> dict:
    return {"camera": "car", "code": "0501", "box": BOX, "description": "路口东侧流动摊贩", **changes}


@pytest.fixture
def hall(serve_site: SiteStarter, rtsp: RtspDevServer, tmp_path: Path):
    receiver = Receiver(reply={"department": "城管执法一中队", "ref": "HF-2026-7"})
    site = serve_site(cameras_yaml(rtsp), server_yaml(tmp_path, receiver))
    site.add_user("op", "operator", grants=("car", "dark"))
    site.add_user("viewer", "viewer", grants=("car",))
    op = site.client("op")
    assert wait_until(lambda: op.get("/api/filing/car/still.jpg").status_code == 200, 30), "no picture from car"
    try:
        yield site, receiver, op
    finally:
        receiver.close()


def test_an_operator_files_a_case_with_the_servers_evidence_and_it_reaches_the_platform(hall) -> None:
    site, receiver, op = hall
    defaults = op.get("/api/filing/car").json()
    assert defaults["grid_code"] == "34010200100101" and defaults["street"] == "解放路街道"
    assert defaults["community"] == "人民社区" and defaults["address"] == "解放路 18 号"
    assert defaults["max_seconds_ago"] == 58  # the default 60 s ring, less the margin
    time.sleep(16)  # the ring holds video since the camera connected: let it hold more than the clip's 15 s
    started = time.monotonic()
    res = post(op, site, filing(address="解放路 20 号（东侧）", street=None))  # edited, cleared, the rest as is
    took = time.monotonic() - started
    assert res.status_code == 201, res.text
    case = res.json()
    assert case["status"] == "confirmed" and case["source"] == "patrol" and case["decided_by"] == "op"
    assert case["code"] == "0501" and case["code_name"] == "无照经营游商" and case["family"] == "street_stall"
    assert case["address"] == "解放路 20 号（东侧）" and case["grid_code"] == "34010200100101"
    assert case["street"] is None and case["community"] == "人民社区"
    assert case["description"] == "路口东侧流动摊贩"
    assert took < 10, f"filing took {took:.1f} s"

    record = op.get(f"/api/cases/{case['id']}").json()
    events = [(e["action"], e["actor"], e["after"]) for e in record["events"]]
    assert events[:2] == [("raised", "op", "pending_review"), ("confirm", "op", "confirmed")]
    # the receiver may already have taken it (its 2xx marks the case dispatched), but nothing else happens
    assert events[2:] in ([], [("dispatch", "platform", "dispatched")]), events
    assert record["events"][0]["detail"]["source"] == "patrol"
    links = {e["kind"]: e["url"] for e in record["evidence"]}
    assert set(links) == {"snapshot", "clip"} and record["missing_evidence"] == []
    snapshot = op.get(links["snapshot"])
    assert snapshot.status_code == 200 and snapshot.headers["content-type"] == "image/jpeg"
    size = jpeg_size(snapshot.content)
    assert size is not None
    width, height = size
    assert jpeg_size(op.get("/api/cameras/car/snapshot.jpg").content) == size  # the stream's full resolution
    assert record["place_box"] == pytest.approx([BOX[0] * width, BOX[1] * height, BOX[2] * width, BOX[3] * height],
                                                abs=0.1)
    assert record["boxes"][0]["label"] == "operator"
    clip = op.get(links["clip"])
    assert clip.status_code == 200 and clip.headers["content-type"] == "video/mp4"
    with av.open(io.BytesIO(clip.content)) as c:
        stream = c.streams.video[0]
        times = [float(p.pts * p.time_base) for p in c.demux(stream) if p.pts is not None and p.size]
    print(f"clip: {len(times)} frames, {max(times) - min(times):.1f} s")
    assert 13 <= max(times) - min(times) <= 20, "the clip is not the ring's last 15 s"

    assert wait_until(lambda: op.get(f"/api/cases/{case['id']}").json()["status"] == "dispatched", 20)
    assert receiver.keys() == [f"citywall-case-{case['id']}"]
    document = json.loads(receiver.posts[0][1])
    assert document["source"] == "视频巡查" and document["status"] == "confirmed" and document["confirmed_by"] == "op"
    assert document["address"] == "解放路 20 号（东侧）" and document["code"] == "0501"
    sent = {e["kind"] for e in document["evidence"]}
    assert sent == {"snapshot", "clip"}
    for item in document["evidence"]:  # signed links (no login) to the very files the case keeps
        assert item["url"].split("?")[0].endswith(links[item["kind"]].rsplit("/", 1)[1]), item
        assert httpx.get(f"{site.url}{item['url']}").status_code == 200

    admin = site.client("admin")
    rows = admin.get("/api/audit", params={"action": "case_file"}).json()
    rows = rows["items"] if isinstance(rows, dict) else rows
    assert [(r["user"], r["target"], r["success"]) for r in rows] == [("op", f"case:{case['id']}", True)]
    assert rows[0]["detail"]["camera"] == "car" and rows[0]["detail"]["source"] == "patrol"
    listed = op.get("/api/cases", params={"status": "dispatched"}).json()["items"]
    assert [(i["id"], i["source"]) for i in listed] == [(case["id"], "patrol")]


def test_filing_is_refused_without_the_right_camera_code_box_or_picture(hall) -> None:
    site, receiver, op = hall
    hidden, missing = post(op, site, filing(camera="person")), post(op, site, filing(camera="nope"))
    assert hidden.status_code == missing.status_code == 404 and hidden.json() == missing.json()
    assert op.get("/api/filing/person").status_code == 404
    assert op.get("/api/filing/person/still.jpg").status_code == 404
    viewer = site.client("viewer")
    assert post(viewer, site, filing()).status_code == 403  # may see the camera, may not decide cases
    assert viewer.get("/api/filing/car").status_code == 403
    unknown = post(op, site, filing(code="9999"))
    assert unknown.status_code == 422 and "9999" in unknown.json()["detail"]
    for box in ([0.6, 0.3, 0.25, 0.8], [0.2, 0.2, 0.2, 0.2], [-0.1, 0.2, 0.5, 0.5], [0.1, 0.2, 1.2, 0.5],
                [0.1, 0.2, 0.5]):
        assert post(op, site, filing(box=box)).status_code == 422, box
    assert post(op, site, filing(seconds_ago=59)).status_code == 422  # beyond the ring
    assert post(op, site, filing(description="")).status_code == 422
    assert post(op, site, filing(extra="x")).status_code == 422
    dark = post(op, site, filing(camera="dark"))
    assert dark.status_code == 409 and "no picture" in dark.json()["detail"]
    assert op.get("/api/filing/dark/still.jpg").status_code == 409
    assert op.get("/api/cases").json()["total"] == 0 and receiver.posts == []
    admin = site.client("admin")
    rows = admin.get("/api/audit", params={"action": "case_file", "success": "false"}).json()
    rows = rows["items"] if isinstance(rows, dict) else rows
    assert {(r["user"], r["target"]) for r in rows} == {("op", "camera:car"), ("op", "camera:dark")}


def test_a_case_filed_from_seconds_ago_keeps_the_picture_of_that_moment(hall) -> None:
    """The still of "12 s ago" is the keyframe the wall showed then, not the newest one: taken before, it is the
    same picture the filing keeps."""
    site, _receiver, op = hall
    assert wait_until(lambda: op.get("/api/cameras").status_code == 200, 5)
    then = op.get("/api/filing/car/still.jpg").content  # what the dialog shows at the moment it opens
    opened = time.monotonic()
    time.sleep(12)  # the operator draws the box, picks the code… (the car clip moves: keyframes differ)
    now = op.get("/api/filing/car/still.jpg").content
    assert hashlib.sha256(now).digest() != hashlib.sha256(then).digest()
    seconds_ago = time.monotonic() - opened
    res = post(op, site, filing(seconds_ago=round(seconds_ago, 2)))
    assert res.status_code == 201, res.text
    record = op.get(f"/api/cases/{res.json()['id']}").json()
    kept = next(e["url"] for e in record["evidence"] if e["kind"] == "snapshot")
    kept_bytes = op.get(kept).content
    assert jpeg_size(kept_bytes) == jpeg_size(then)
    # the same keyframe, re-encoded from the ring's packets: the same picture, nearly the same pixels
    import cv2
    import numpy as np

    a = cv2.imdecode(np.frombuffer(then, np.uint8), cv2.IMREAD_GRAYSCALE).astype(float)
    b = cv2.imdecode(np.frombuffer(kept_bytes, np.uint8), cv2.IMREAD_GRAYSCALE).astype(float)
    c = cv2.imdecode(np.frombuffer(now, np.uint8), cv2.IMREAD_GRAYSCALE).astype(float)
    assert np.abs(a - b).mean() < np.abs(c - b).mean() / 3, "the kept still is not the one of that moment"
    first_seen = record["first_seen"]
    from datetime import UTC, datetime

    age = (datetime.now(UTC) - datetime.fromisoformat(first_seen)).total_seconds()
    assert seconds_ago - 1 < age < seconds_ago + 10, age


def test_migration_0006_gives_past_cases_the_source_ai_and_back(tmp_path: Path) -> None:
    """A database of the AI-only days (source = the platform's label) reads as source "ai" after 0006, and a
    downgrade puts the label back; the statistics' index on source exists."""
    from alembic import command
    from sqlalchemy import inspect, text

    from wall.store.db import Database, database_url

    db = Database(database_url(tmp_path))
    config = db.alembic_config()
    with db.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0005_login_addresses")
        conn.execute(text(
            "INSERT INTO cases (event_id, status, source, camera_id, camera_name, zone_id, family, place, place_box,"
            " code, code_name, catalogue_version, description, boxes, first_seen, last_seen, raised_at, updated_at)"
            " VALUES ('e1', 'confirmed', '视频智能发现', 'car', 'car', 'z', 'street_stall', '1-1', '[]', '0501', 'x',"
            " 'v', '', '[]', '2026-01-01', '2026-01-01', '2026-01-01', '2026-01-01')"))
        command.upgrade(config, "head")
        assert conn.execute(text("SELECT source FROM cases")).scalar_one() == "ai"
        assert "ix_cases_source" in {i["name"] for i in inspect(conn).get_indexes("cases")}
        command.downgrade(config, "0005_login_addresses")
        assert conn.execute(text("SELECT source FROM cases")).scalar_one() == "视频智能发现"
    db.dispose()
