"""Case review over the real app: grants filter cases, operators decide, /ws/wall pushes, the platform receives."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from websockets.sync.client import connect

from tests.case_helpers import Receiver, event_change
from tests.conftest import wait_until
from vision.card import DEFAULT_CARD
from vision.catalogue import load_catalogue
from vision.detector import Detector
from vision.replay import Replay
from vision.rules_config import CameraRules
from wall.demo import MEDIA

pytestmark = pytest.mark.slow

CAMERAS = """
cameras:
  - {id: cam-a, name: 解放路口, url: "rtsp://127.0.0.1:9/a", grid_code: "34010200100101", address: 解放路 18 号}
  - {id: cam-b, name: 人民路, url: "rtsp://127.0.0.1:9/b", group: renmin}
  - {id: cam-c, name: 长江路, url: "rtsp://127.0.0.1:9/c", group: renmin}
"""


def server_yaml(tmp_path: Path, receiver: Receiver | None = None) -> str:
    text = f"server:\n  data_dir: {tmp_path / 'data'}\n"
    if receiver is not None:
        text += (f"platform:\n  webhook_url: {receiver.url}\n  secret: webhook-secret\n"
                 "  backoff_initial: 0.05\n  backoff_max: 0.2\n")
    return text


def case_notice(ws, timeout: float = 10) -> dict:
    """The next case message on /ws/wall, past the wall-state pushes (the alarm pop-up moves the walls too)."""
    deadline = time.monotonic() + timeout
    while True:
        message = json.loads(ws.recv(timeout=max(0.05, deadline - time.monotonic())))
        if message["type"] != "wall":
            return message
        wall = message["wall"]
        assert wall["alarm"] is None or wall["alarm"]["camera"] in ("cam-a",), "an alarm the user may not see"


def raise_case(site, camera: str, place: str = "3-4") -> int:
    desk = site.app.state.services.cases.desk
    return desk.on_event(event_change(desk.evidence_dir, camera=camera, place=place))


def test_cases_are_filtered_by_grants_and_decided_by_operators(serve_site, tmp_path: Path) -> None:
    site = serve_site(CAMERAS, server_yaml(tmp_path))
    site.add_user("op", "operator", grants=("group:renmin",))
    site.add_user("viewer", "viewer", grants=("cam-a",))
    a, b, c = raise_case(site, "cam-a"), raise_case(site, "cam-b"), raise_case(site, "cam-c")
    admin, op, viewer = site.client("admin"), site.client("op"), site.client("viewer")
    assert admin.get("/api/cases").json()["total"] == 3
    assert {i["id"] for i in op.get("/api/cases").json()["items"]} == {b, c}
    assert {i["id"] for i in viewer.get("/api/cases").json()["items"]} == {a}
    hidden, missing = op.get(f"/api/cases/{a}"), op.get("/api/cases/999999")
    assert hidden.status_code == missing.status_code == 404 and hidden.json() == missing.json()
    snap = viewer.get(f"/api/cases/{a}").json()["evidence"][0]["url"]
    assert viewer.get(snap).status_code == 200 and viewer.get(snap).headers["content-type"] == "image/jpeg"
    assert op.get(snap).status_code == 404  # evidence of a camera the operator may not see
    assert viewer.post(f"/api/cases/{a}/confirm", json={}, headers={"Origin": site.origin}).status_code == 403
    done = op.post(f"/api/cases/{b}/confirm", json={"note": "核实", "code": "0504"}, headers={"Origin": site.origin})
    assert done.status_code == 200 and done.json()["status"] == "confirmed" and done.json()["code"] == "0504"
    again = op.post(f"/api/cases/{b}/reject", json={"reason": "other"}, headers={"Origin": site.origin})
    assert again.status_code == 409
    reasons = op.get("/api/reject-reasons").json()
    assert reasons["licensed_stall"] == "持证摊点/早餐车"
    bad = op.post(f"/api/cases/{c}/reject", json={"reason": "nope"}, headers={"Origin": site.origin})
    assert bad.status_code == 422
    ok = op.post(f"/api/cases/{c}/reject", json={"reason": "vendor_walking", "text": "路过"},
                 headers={"Origin": site.origin})
    assert ok.json()["status"] == "rejected"
    history = admin.get(f"/api/cases/{c}").json()["events"]
    assert [(e["action"], e["actor"]) for e in history] == [("raised", "vision"), ("reject", "op")]
    audit = admin.get("/api/audit", params={"action": "case_reject"}).json()
    rows = audit["items"] if isinstance(audit, dict) else audit
    assert any(r["user"] == "op" and r["target"] == f"case:{c}" for r in rows)


def test_ws_wall_pushes_raised_cases_only_to_users_who_may_see_them(serve_site, tmp_path: Path) -> None:
    site = serve_site(CAMERAS, server_yaml(tmp_path))
    site.add_user("viewer", "viewer", grants=("cam-a",))
    ws_url = site.url.replace("http", "ws") + "/ws/wall"
    with connect(ws_url, additional_headers={"Cookie": site.cookie("viewer")}, open_timeout=10) as ws:
        assert json.loads(ws.recv(timeout=10))["type"] == "hello"
        raise_case(site, "cam-b")  # not granted: never pushed
        a = raise_case(site, "cam-a")
        message = case_notice(ws)
        assert message["type"] == "case_raised" and message["case"]["id"] == a
        assert message["case"]["camera"] == "cam-a" and message["case"]["code_name"] == "无照经营游商"


def test_replayed_clip_raises_a_case_the_operator_confirms_and_the_platform_receives(
        serve_site, tmp_path: Path) -> None:
    receiver = Receiver(reply={"department": "城管执法一中队", "ref": "HF-2026-1"})
    try:
        site = serve_site(CAMERAS, server_yaml(tmp_path, receiver))
        site.add_user("op", "operator", grants=("cam-a",))
        rules = CameraRules.model_validate({"zones": [{
            "id": "table", "family": "street_stall", "code": "0501", "require_object": False,
            "polygon": [[0.40, 0.70], [0.80, 0.70], [0.80, 1.0], [0.40, 1.0]], "dwell_seconds": 14,
            "grace_seconds": 4, "clear_after_seconds": 6, "alarm_interval_seconds": 5}]})
        detector = Detector(DEFAULT_CARD)
        desk = site.app.state.services.cases.desk
        replay = Replay(MEDIA / "one-by-one-person-detection.mp4", rules, detector, detector.card.families,
                        load_catalogue(), out_dir=desk.evidence_dir, camera_id="cam-a")
        for change in replay.run():
            desk.on_event(change)
            if change.kind == "opened":
                break
        op = site.client("op")
        items = op.get("/api/cases", params={"status": "pending_review"}).json()["items"]
        assert len(items) == 1 and items[0]["code"] == "0501" and items[0]["grid_code"] == "34010200100101"
        case_id = items[0]["id"]
        kinds = {e["kind"] for e in op.get(f"/api/cases/{case_id}").json()["evidence"]}
        assert {"snapshot", "clip"} <= kinds
        res = op.post(f"/api/cases/{case_id}/confirm", json={"note": "确认"}, headers={"Origin": site.origin})
        assert res.status_code == 200
        assert wait_until(lambda: op.get(f"/api/cases/{case_id}").json()["status"] == "dispatched", 20)
        assert len(receiver.posts) == 1
        headers, body = receiver.posts[0]
        document = json.loads(body)
        assert headers["Idempotency-Key"] == f"citywall-case-{case_id}"
        assert document["code"] == "0501" and document["address"] == "解放路 18 号"
        assert {e["kind"] for e in document["evidence"]} >= {"snapshot", "clip"}
        assert op.get(f"/api/cases/{case_id}").json()["department"] == "城管执法一中队"
    finally:
        receiver.close()


def test_admin_sees_dead_letters_and_retries_them(serve_site, tmp_path: Path) -> None:
    receiver = Receiver(status=500)
    try:
        yaml_text = server_yaml(tmp_path, receiver) + "  max_attempts: 2\n"
        site = serve_site(CAMERAS, yaml_text)
        site.add_user("op", "operator", grants=("cam-a",))
        case_id = raise_case(site, "cam-a")
        op, admin = site.client("op"), site.client("admin")
        assert op.post(f"/api/cases/{case_id}/confirm", json={}, headers={"Origin": site.origin}).status_code == 200
        assert wait_until(lambda: admin.get("/api/outbox", params={"status": "dead"}).json(), 20)
        dead = admin.get("/api/outbox", params={"status": "dead"}).json()[0]
        assert dead["case_id"] == case_id and dead["attempts"] == 2 and "HTTP 500" in dead["last_error"]
        assert op.get("/api/outbox").status_code == 403  # dead letters are for admins
        receiver.status = 200
        res = admin.post(f"/api/outbox/{dead['id']}/retry", headers={"Origin": site.origin})
        assert res.status_code == 200
        assert wait_until(lambda: admin.get("/api/outbox", params={"status": "sent"}).json(), 20)
        assert admin.post(f"/api/outbox/{dead['id']}/retry", headers={"Origin": site.origin}).status_code == 409
    finally:
        receiver.close()


def test_a_revoked_grant_stops_ws_wall_pushes_at_once(serve_site, tmp_path: Path) -> None:
    from wall.auth import grants as g

    site = serve_site(CAMERAS, server_yaml(tmp_path))
    site.add_user("viewer", "viewer", grants=("cam-a",))
    ws_url = site.url.replace("http", "ws") + "/ws/wall"
    with connect(ws_url, additional_headers={"Cookie": site.cookie("viewer")}, open_timeout=10) as ws:
        assert json.loads(ws.recv(timeout=10))["type"] == "hello"
        first = raise_case(site, "cam-a", place="1-1")
        assert case_notice(ws)["case"]["id"] == first
        with site.db.session() as s:
            subject, target = g.Subject.parse("viewer"), g.Target.parse("cam-a")
            g.remove_grant(s, g.find_grant(s, subject, target), subject, target)
        time.sleep(2.5)  # the channel re-reads the grants every second
        raise_case(site, "cam-a", place="2-2")
        with pytest.raises(TimeoutError):
            case_notice(ws, timeout=3)


def test_desk_reads_catalogue_times_with_offsets_and_evidence_times(serve_site, tmp_path: Path) -> None:
    """What the review desk page relies on: the catalogue to correct a code from, time filters in the hall's own
    offset (+08:00) and history/evidence times that say they are UTC (a browser reads a bare time as local)."""
    from datetime import UTC, datetime, timedelta, timezone

    site = serve_site(CAMERAS, server_yaml(tmp_path))
    site.add_user("op", "operator", grants=("cam-a",))
    op = site.client("op")
    catalogue = op.get("/api/event-codes").json()
    assert catalogue["version"] == "cjt214-citywall-2026.1"
    codes = {c["code"]: c for c in catalogue["codes"]}
    assert codes["0501"]["name"] == "无照经营游商" and codes["0501"]["families"] == ["street_stall"]
    assert codes["0102"]["name_en"] == "exposed garbage" and codes["0101"]["families"] == []
    assert site.client(None).get("/api/event-codes").status_code == 401

    case_id = raise_case(site, "cam-a")
    beijing = timezone(timedelta(hours=8))
    hour_ago = (datetime.now(UTC) - timedelta(hours=1)).astimezone(beijing).isoformat()
    in_half_an_hour = (datetime.now(UTC) + timedelta(minutes=30)).astimezone(beijing).isoformat()
    assert [i["id"] for i in op.get("/api/cases", params={"since": hour_ago}).json()["items"]] == [case_id]
    assert op.get("/api/cases", params={"since": in_half_an_hour}).json()["total"] == 0
    assert op.get("/api/cases", params={"until": hour_ago}).json()["total"] == 0
    assert op.get("/api/cases", params={"until": in_half_an_hour}).json()["total"] == 1
    for edge in ["0001-01-01T00:00:00+14:00", "9999-12-31T23:00:00-14:00"]:  # no such instant in UTC
        assert op.get("/api/cases", params={"since": edge}).status_code == 422

    record = op.get(f"/api/cases/{case_id}").json()
    for stamp in [e["at"] for e in record["events"]] + [e["at"] for e in record["evidence"]]:
        parsed = datetime.fromisoformat(stamp)
        assert parsed.utcoffset() == timedelta(0), stamp
        assert abs((parsed - datetime.now(UTC)).total_seconds()) < 120, stamp


def test_openapi_documents_cases_and_a_served_case_has_exactly_its_fields(serve_site, tmp_path: Path) -> None:
    site = serve_site(CAMERAS, server_yaml(tmp_path))
    admin = site.client("admin")
    spec = admin.get("/openapi.json").json()

    def answer(path: str, method: str = "get") -> str:
        return spec["paths"][path][method]["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]

    assert answer("/api/cases").endswith("/CasePage") and answer("/api/cases/{case_id}").endswith("/CaseDetail")
    for action in ("confirm", "reject", "merge", "close"):
        assert answer(f"/api/cases/{{case_id}}/{action}", "post").endswith("/CaseSummary")
    schemas = spec["components"]["schemas"]
    assert schemas["CasePage"]["properties"]["items"]["items"]["$ref"].endswith("/CaseSummary")

    case_id = raise_case(site, "cam-a")
    record = admin.get(f"/api/cases/{case_id}").json()
    assert list(record) == list(schemas["CaseDetail"]["properties"])
    assert list(record["events"][0]) == list(schemas["CaseHistoryEntry"]["properties"])
    assert list(record["evidence"][0]) == list(schemas["EvidenceLink"]["properties"])
    assert record["raised_at"].endswith("+00:00") and record["decided_at"] is None
