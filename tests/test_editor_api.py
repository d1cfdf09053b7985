"""The camera and zone editor's API against the real app on a real socket: real files in a real config directory
(read back by the real loader), real SQLite audit rows, the session's GStreamer RTSP server as cameras, the real
default model (YOLOX-nano) for tries and for the live analytics that must pick up saved rules.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from streams.devserver.rtsp import RtspDevServer, free_port
from tests.conftest import LiveServer, SiteStarter, wait_until
from wall.config import load_config
from wall.editing.probe_quota import ProbeQuota

pytestmark = pytest.mark.slow

ANALYTICS = """# Site analytics, annotated by hand.
cameras:
  gate:
    # the pavement in front of the gate
    zones:
      - id: pavement
        family: street_stall   # vendors gather here after 17:00
        code: "0501"
        polygon: [[0.10, 0.60], [0.90, 0.60], [0.90, 1.0], [0.10, 1.0]]
        dwell_seconds: 180
# end of file
"""

# People come one at a time to a standing table in the lobby clip and stay 10–25 s (tests/test_replay.py).
STALL_RULES: dict[str, Any] = {"zones": [{
    "id": "table", "name": "站台桌", "family": "street_stall", "code": "0501", "require_object": False,
    "polygon": [[0.40, 0.70], [0.80, 0.70], [0.80, 1.0], [0.40, 1.0]],
    "dwell_seconds": 8, "grace_seconds": 4, "clear_after_seconds": 6, "alarm_interval_seconds": 5,
    "confirm": {"hits": 3, "looks": 4},
}]}
# The same rules on the top-left corner of the picture, where nobody ever stands.
CORNER_RULES: dict[str, Any] = {"zones": [{**STALL_RULES["zones"][0], "id": "corner",
                                           "polygon": [[0.0, 0.0], [0.1, 0.0], [0.1, 0.1], [0.0, 0.1]]}]}


def offline_cameras(*ids: str) -> str:
    port = free_port()
    return "cameras:\n" + "".join(f'  - {{id: {c}, name: {c}, url: "rtsp://127.0.0.1:{port}/{c}"}}\n' for c in ids)


def audit_rows(site: LiveServer, action: str) -> list[dict[str, Any]]:
    return site.client().get("/api/audit", params={"action": action, "limit": 100}).json()["items"]


def zone(zone_id: str, family: str = "street_stall", **extra: Any) -> dict[str, Any]:
    return {"id": zone_id, "family": family, "polygon": [[0.1, 0.1], [0.5, 0.1], [0.5, 0.5]], **extra}


def test_rules_are_for_admins_only(serve_site: SiteStarter) -> None:
    site = serve_site(offline_cameras("gate"), analytics_yaml=ANALYTICS)
    site.add_user("op", "operator", grants=("gate",))
    site.add_user("watcher", "viewer", grants=("gate",))
    for user in ("op", "watcher"):
        client = site.client(user)
        assert client.get("/api/cameras/gate/rules").status_code == 403
        assert client.put("/api/cameras/gate/rules", json=STALL_RULES).status_code == 403
        assert client.post("/api/cameras/gate/rules/try", json={"rules": STALL_RULES}).status_code == 403
        assert client.get("/api/config/cameras").status_code == 403
        assert client.post("/api/config/cameras", json={"id": "x", "name": "x", "url": "rtsp://h/x"}).status_code \
            == 403
        assert client.put("/api/config/cameras/gate", json={"name": "y"}).status_code == 403
        assert client.post("/api/config/cameras/probe", json={"camera": "gate"}).status_code == 403
    anonymous = site.client(None)
    assert anonymous.get("/api/cameras/gate/rules").status_code == 401
    assert anonymous.put("/api/cameras/gate/rules", json=STALL_RULES).status_code == 401
    admin = site.client()
    assert admin.get("/api/cameras/nowhere/rules").status_code == 404
    assert admin.put("/api/cameras/nowhere/rules", json=STALL_RULES).status_code == 404
    assert admin.put("/api/config/cameras/nowhere", json={"name": "n"}).status_code == 404
    assert (site.app.state.services.site.directory / "analytics.yaml").read_text(encoding="utf-8") == ANALYTICS


def test_bad_rules_are_refused_with_key_and_reason(serve_site: SiteStarter) -> None:
    site = serve_site(offline_cameras("gate"), analytics_yaml=ANALYTICS)
    admin = site.client()
    cases = [
        ({"zones": [zone("a", polygon=[[0, 0], [1.5, 0], [1, 1]]), zone("b", dwel=3)]},
         ["zones[0].polygon: point (1.5, 0.0) is outside 0–1 (polygons are fractions of the picture)",
          "zones[1].dwel: unknown key"]),
        ({"zones": [zone("a", "garbage", code="0501")]},
         ["zones[0].code: code '0501' (无照经营游商) is not a garbage code in catalogue cjt214-citywall-2026.1"]),
        ({"zones": [zone("a"), zone("a")]}, ["(top level): duplicate zone id 'a'"]),
        ({"zones": [zone("a", schedule=[{"start": "7:30"}], grace_seconds=20, clear_after_seconds=5)]},
         ["zones[0].schedule[0].start: '7:30' is not a time like 07:30"]),
        ({"zones": [zone("a", grace_seconds=20, clear_after_seconds=5)]},
         ["zones[0]: clear_after_seconds must be at least grace_seconds"]),
        ({"zones": [zone(f"z{i}") for i in range(51)]}, ["zones: at most 50 zones per camera"]),
        ({"zones": "all of them"}, ["zones: Input should be a valid list, got 'all of them'"]),
    ]
    for body, problems in cases:
        res = admin.put("/api/cameras/gate/rules", json=body)
        assert res.status_code == 422, res.text
        assert res.json()["problems"] == problems
        assert res.json()["detail"] == "; ".join(problems)
        tried = admin.post("/api/cameras/gate/rules/try", json={"rules": body})
        assert (tried.status_code, tried.json()["problems"]) == (422, problems), "try checks like save"
    assert admin.put("/api/cameras/gate/rules", json=[1, 2]).status_code == 422
    assert admin.post("/api/cameras/gate/rules/try", json={"rules": STALL_RULES, "minutes": 600}).status_code == 422
    assert (site.app.state.services.site.directory / "analytics.yaml").read_text(encoding="utf-8") == ANALYTICS
    refused = [r for r in audit_rows(site, "rules.update") if not r["success"]]
    assert len(refused) == len(cases)
    assert refused[-1]["target"] == "camera:gate"
    assert refused[-1]["detail"]["problems"] == cases[0][1]


def test_saved_rules_keep_the_files_comments_and_run_at_once(serve_site: SiteStarter) -> None:
    site = serve_site(offline_cameras("gate", "yard"), analytics_yaml=ANALYTICS)
    admin = site.client()
    analytics = site.app.state.services.runtime.analytics
    before = analytics.analyzers["gate"]
    rules = admin.get("/api/cameras/gate/rules").json()
    assert rules["analytics"] and rules["analysed"]
    assert [z["id"] for z in rules["rules"]["zones"]] == ["pavement"]
    assert rules["rules"]["zones"][0]["dwell_seconds"] == 180 and rules["rules"]["zones"][0]["grace_seconds"] == 10

    proposed = rules["rules"]
    proposed["zones"][0]["dwell_seconds"] = 120
    proposed["zones"].append(zone("bins", "garbage", code="0103", name="垃圾桶",
                                  schedule=[{"days": ["mon", "tue"], "start": "07:00", "end": "20:00"}]))
    res = admin.put("/api/cameras/gate/rules", json=proposed)
    assert res.status_code == 200, res.text
    assert res.json()["analysed"] and res.json()["message"] == ""

    path = site.app.state.services.site.directory / "analytics.yaml"
    text = path.read_text(encoding="utf-8")
    for comment in ("# Site analytics, annotated by hand.", "# the pavement in front of the gate",
                    "family: street_stall   # vendors gather here after 17:00", "# end of file"):
        assert comment in text, comment
    assert "polygon: [[0.10, 0.60], [0.90, 0.60], [0.90, 1.0], [0.10, 1.0]]" in text, "unchanged values untouched"
    assert "dwell_seconds: 120\n" in text and "dwell_seconds: 180" not in text
    assert text.index("# end of file") > text.index("id: bins"), "the closing comment stays last"
    loaded = load_config(path.parent).analytics
    assert loaded is not None
    gate = loaded.cameras["gate"]
    assert [z.id for z in gate.zones] == ["pavement", "bins"]
    assert gate.zones[1].schedule[0].end == "20:00" and gate.zones[1].code == "0103"

    running = analytics.analyzers["gate"]
    assert running is not before, "a new analyzer runs the new rules"
    assert running.rules == gate
    assert analytics.samplers["gate"] in site.app.state.services.runtime.hub.get("gate")._consumers
    assert admin.get("/api/cameras/gate/rules").json()["rules"] == gate.model_dump(mode="json")
    ok = [r for r in audit_rows(site, "rules.update") if r["success"]]
    assert [(r["target"], r["detail"]) for r in ok] == [("camera:gate", {"zones": ["pavement", "bins"],
                                                                          "applied": True})]

    # A camera without an entry gets one; a camera left without zones loses its entry and its analyzer.
    assert admin.put("/api/cameras/yard/rules", json={"zones": [zone("lane", "road_occupation")]}).json()["analysed"]
    assert "yard" in analytics.analyzers
    res = admin.put("/api/cameras/gate/rules", json={"zones": []})
    assert res.status_code == 200 and not res.json()["analysed"]
    assert "gate" not in analytics.analyzers and "gate" not in analytics.samplers
    assert analytics.samplers["yard"] in site.app.state.services.runtime.hub.get("yard")._consumers
    text = path.read_text(encoding="utf-8")
    assert "gate:" not in text and "yard:" in text and "# Site analytics, annotated by hand." in text
    assert load_config(path.parent).analytics.cameras["yard"].zones[0].id == "lane"  # type: ignore[union-attr]


def test_files_broken_by_hand_since_the_start_are_reported_not_overwritten(serve_site: SiteStarter) -> None:
    site = serve_site(offline_cameras("gate"), analytics_yaml=ANALYTICS)
    admin = site.client()
    directory = site.app.state.services.site.directory
    broken = "cameras:\n  - {id: gate, name: gate, url: 'rtsp://10.0.0.1/x', nmae: typo}\n"
    (directory / "cameras.yaml").write_text(broken, encoding="utf-8")
    listed = admin.get("/api/config/cameras")
    assert listed.status_code == 409 and "cameras[0].nmae: unknown key" in listed.json()["detail"]
    res = admin.put("/api/config/cameras/gate", json={"name": "门"})  # the entry itself is checked whole
    assert res.status_code == 422 and res.json()["problems"] == ["nmae: unknown key"]
    res = admin.put("/api/cameras/gate/rules", json=STALL_RULES)  # the directory would not load: nothing written
    assert res.status_code == 422 and any("nmae: unknown key" in p for p in res.json()["problems"])
    assert (directory / "cameras.yaml").read_text(encoding="utf-8") == broken
    assert (directory / "analytics.yaml").read_text(encoding="utf-8") == ANALYTICS
    (directory / "analytics.yaml").write_text("cameras:\n  gate: {zones: [{id: z}]}\n", encoding="utf-8")
    got = admin.get("/api/cameras/gate/rules")
    assert got.status_code == 409 and "zones[0].polygon: is required" in got.json()["detail"]


def test_a_site_started_without_analytics_gets_the_file_and_is_told(serve_site: SiteStarter) -> None:
    site = serve_site(offline_cameras("gate"))
    admin = site.client()
    got = admin.get("/api/cameras/gate/rules").json()
    assert got["rules"]["zones"] == [] and not got["analytics"] and "without analytics.yaml" in got["message"]
    res = admin.put("/api/cameras/gate/rules", json=STALL_RULES)
    assert res.status_code == 200, res.text
    body = res.json()
    assert not body["analytics"] and not body["analysed"]
    assert "started without analytics.yaml" in body["message"] and "restarted" in body["message"]
    loaded = load_config(site.app.state.services.site.directory)
    assert loaded.analytics is not None and loaded.analytics.cameras["gate"].zones[0].id == "table"
    assert site.app.state.services.runtime.analytics is None
    text = (site.app.state.services.site.directory / "analytics.yaml").read_text(encoding="utf-8")
    assert text.startswith("# Analytics: zones and rules per camera")


def test_try_on_the_last_minutes_then_save_runs_the_new_rules_live(rtsp: RtspDevServer, serve_site: SiteStarter,
                                                                    tmp_path: Path) -> None:
    cameras = f'cameras:\n  - {{id: lobby, name: 大厅, url: "{rtsp.url("person")}", analysis_interval: 2}}\n'
    server = f"server:\n  data_dir: {tmp_path / 'data'}\nstreams:\n  ring_seconds: 150\n"
    analytics = "cameras:\n  lobby:\n    zones:\n" + "".join(
        f"      {line}\n" for line in (
            "- id: corner", "  family: street_stall", "  require_object: false", "  dwell_seconds: 8",
            "  polygon: [[0.0, 0.0], [0.1, 0.0], [0.1, 0.1], [0.0, 0.1]]"))
    site = serve_site(cameras, server, analytics)
    admin = site.client(timeout=300)
    session = site.app.state.services.runtime.hub.get("lobby")
    # Any 60 s of the clip hold a visit of 16 s or more at the table (tests/test_replay.py has the visits).
    assert wait_until(lambda: session.ring.span_seconds() >= 62, 150, 1.0), "the ring did not fill"

    res = admin.post("/api/cameras/lobby/rules/try", json={"rules": STALL_RULES, "minutes": 2})
    assert res.status_code == 200, res.text
    tried = res.json()
    assert 55 <= tried["seconds"] <= 155 and tried["requested_seconds"] == 120
    assert tried["looks"] >= 25
    opened = [e for e in tried["events"] if e["kind"] == "opened"]
    assert opened, tried["events"]
    event = opened[0]
    assert (event["zone"], event["code"], event["code_name"]) == ("table", "0501", "无照经营游商")
    assert tried["start_wall"] <= event["t_wall"] <= tried["end_wall"] + 1
    assert event["snapshot"].startswith("data:image/jpeg;base64,")
    image = cv2.imdecode(np.frombuffer(base64.b64decode(event["snapshot"].split(",", 1)[1]), np.uint8),
                         cv2.IMREAD_COLOR)
    assert image.shape == (360, 640, 3)
    # The same minutes with the zone where nobody stands raise nothing: the events come from the rules tried.
    control = admin.post("/api/cameras/lobby/rules/try", json={"rules": CORNER_RULES, "minutes": 2}).json()
    assert control["looks"] >= 25 and control["events"] == []
    rows = [r for r in audit_rows(site, "rules.try") if r["success"]]
    assert len(rows) == 2 and rows[-1]["detail"]["events"] == len(tried["events"])
    assert not (tmp_path / "analytics.yaml").read_text(encoding="utf-8").count("table"), "a try saves nothing"

    assert not [e for e in admin.get("/api/events").json() if e["zone"] == "table"]
    saved = admin.put("/api/cameras/lobby/rules", json=STALL_RULES)
    assert saved.status_code == 200 and saved.json()["analysed"], saved.text
    assert wait_until(lambda: [e for e in admin.get("/api/events").json() if e["zone"] == "table"], 120, 1.0), \
        "the live analytics did not raise with the saved rules"


CAMERAS = """# Cameras of the test site.
cameras:
  # the lot, seen from the roof
  - id: lot
    name: 停车场
    url: "{url}"   # sub stream
    group: east
    analysis_interval: 2
# end of cameras
"""


def test_cameras_are_probed_saved_with_comments_and_started(rtsp: RtspDevServer, serve_site: SiteStarter,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CITYWALL_CAM_EDITOR_TEST_PORT", str(rtsp.port))
    lot_rules = ("cameras:\n  lot:\n    zones:\n"
                 "      - {id: lane, family: road_occupation, polygon: [[0, 0], [1, 0], [1, 1]]}\n")
    site = serve_site(CAMERAS.format(url=rtsp.url("car")), analytics_yaml=lot_rules)
    site.add_user("east-viewer", "viewer", grants=("group:east",))
    # this walk-through probes more than the 10 a minute an admin gets (that limit: tests/test_stream_urls.py)
    site.app.state.services.probe_quota = ProbeQuota(per_minute=1000)
    admin = site.client(timeout=60)
    directory = site.app.state.services.site.directory
    hub = site.app.state.services.runtime.hub
    answers: list[str] = []

    def call(method: str, path: str, **kwargs: Any) -> Any:
        res = admin.request(method, path, **kwargs)
        answers.append(res.text)
        return res

    new = {"id": "lobby", "name": "大厅", "url": "rtsp://127.0.0.1:${CITYWALL_CAM_EDITOR_TEST_PORT}/person",
           "group": "east", "national_id": "34020000001320000009", "grid_code": "34010200100102", "address": "示例大厅"}
    res = call("POST", "/api/config/cameras", json=new)
    assert res.status_code == 201, res.text
    saved = res.json()
    assert saved["probe"]["ok"] and saved["probe"]["codec"] == "h264" and saved["probe"]["width"] > 0
    assert saved["probe"]["fps"] > 5
    assert saved["running"] and saved["restarted"]
    assert saved["camera"]["url_set"] and not saved["camera"]["main_url_set"] and saved["camera"]["name"] == "大厅"
    text = (directory / "cameras.yaml").read_text(encoding="utf-8")
    for kept in ("# Cameras of the test site.", "# the lot, seen from the roof", '"   # sub stream',
                 "${CITYWALL_CAM_EDITOR_TEST"):
        assert kept in text, kept
    assert text.rstrip().endswith("# end of cameras") and 'national_id: "34020000001320000009"' in text
    lobby = next(c for c in load_config(directory).cameras if c.id == "lobby")
    assert lobby.url == rtsp.url("person") and lobby.grid_code == "34010200100102"
    assert wait_until(lambda: call("GET", "/api/cameras/lobby").json()["state"] == "live", 30, 0.5)
    assert {"lobby", "lot"} <= {c["id"] for c in site.client("east-viewer").get("/api/cameras").json()}, \
        "the new camera joins its cameras.yaml group, and the group's grants reach it"
    configs = {c["id"]: c for c in call("GET", "/api/config/cameras").json()}
    assert configs["lobby"]["running"] and configs["lobby"]["url_set"] and configs["lot"]["analysed"]
    assert "url" not in configs["lobby"] and "main_url" not in configs["lobby"]

    # A new name leaves the video alone; a new URL restarts the session (and the camera's analytics follow it).
    session = hub.get("lobby")
    res = call("PUT", "/api/config/cameras/lobby", json={"name": "大厅 东门", "url": ""})
    assert res.status_code == 200 and not res.json()["restarted"] and res.json()["probe"] is None
    assert hub.get("lobby") is session and call("GET", "/api/cameras/lobby").json()["name"] == "大厅 东门"
    assert "${CITYWALL_CAM_EDITOR_TEST_PORT}" in (directory / "cameras.yaml").read_text(encoding="utf-8")
    lot = hub.get("lot")
    with connect(f"ws://127.0.0.1:{site.port}/ws/live/lot", additional_headers={"Cookie": site.cookie()},
                 open_timeout=20, close_timeout=10, max_size=None, max_queue=None) as viewer:
        res = call("PUT", "/api/config/cameras/lot", json={"url": rtsp.url("bottle")})
        assert res.status_code == 200 and res.json()["restarted"] and res.json()["probe"]["ok"], res.text
        assert hub.get("lot") is not lot and lot.stopped
        with pytest.raises(ConnectionClosed) as closed:  # an open live view is told to reconnect (to the new one)
            while True:
                viewer.recv(timeout=30)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1012
    analytics = site.app.state.services.runtime.analytics
    assert analytics.samplers["lot"] in hub.get("lot")._consumers and res.json()["analysed"]
    assert wait_until(lambda: analytics.samplers["lot"].emitted > 0, 30, 0.5), "the new session feeds analytics"

    # Refusals: key: reason before anything is written; a stream that does not open; a file outside the site.
    closed = f"rtsp://127.0.0.1:{free_port()}/x"
    before = (directory / "cameras.yaml").read_text(encoding="utf-8")
    refusals = [
        ({**new, "id": "c2", "national_id": "3402"}, 422,
         ["national_id: must be exactly 20 digits (GB/T 28181 device id)"]),
        ({**new, "id": "c2", "url": closed}, 422, None),
        ({**new, "id": "c2", "url": "file:/etc/hostname"}, 422,
         ["url: a file: source set here must be inside the configuration directory"]),
        ({**new, "id": "c2", "colour": "red"}, 422, ["colour: unknown key"]),
        ({**new, "id": "Bad Id"}, 422, ["id: must be 1-64 characters of a-z, 0-9, '-' or '_', starting with a letter "
                                        "or digit"]),
        (new, 409, ["id: a camera 'lobby' exists already"]),
    ]
    for body, code, problems in refusals:
        res = call("POST", "/api/config/cameras", json=body)
        assert res.status_code == code, res.text
        if problems is not None:
            assert res.json()["problems"] == problems
    assert call("POST", "/api/config/cameras", json={**new, "id": "c2", "url": closed}).json()["problems"][0] \
        .startswith("url: the stream does not open (refused: ")
    assert (directory / "cameras.yaml").read_text(encoding="utf-8") == before
    res = call("PUT", "/api/config/cameras/lobby", json={"id": "other"})
    assert res.status_code == 422 and res.json()["problems"] == ["id: is set by the path"]
    res = call("POST", "/api/config/cameras", json={**new, "id": "c3", "national_id": "34020000001320000009",
                                                     "url": closed}, params={"offline": "true"})
    assert res.status_code == 422 and res.json()["problems"] == ["national_id: duplicate national id (also cameras[1])"]
    res = call("POST", "/api/config/cameras", json={**new, "id": "c3", "national_id": None, "url": closed},
               params={"offline": "true"})
    assert res.status_code == 201 and not res.json()["probe"]["ok"] and res.json()["running"], res.text
    assert wait_until(lambda: call("GET", "/api/cameras/c3").json()["state"] == "offline", 30, 0.5)

    # Switched off: its session stops and it leaves the wall; it stays in the file, marked disabled.
    res = call("PUT", "/api/config/cameras/c3", json={"enabled": False})
    assert res.status_code == 200 and not res.json()["running"] and res.json()["restarted"]
    assert hub.get("c3") is None and call("GET", "/api/cameras/c3").status_code == 404
    assert not {c["id"]: c for c in call("GET", "/api/config/cameras").json()}["c3"]["enabled"]

    # The probe on its own: a URL, a saved camera, and nothing outside the site.
    checked = call("POST", "/api/config/cameras/probe", json={"url": rtsp.url("car")}).json()
    assert checked["ok"] and checked["codec"] == "h264" and "url" not in checked
    assert call("POST", "/api/config/cameras/probe", json={"camera": "lobby"}).json()["ok"]
    refused = call("POST", "/api/config/cameras/probe", json={"url": closed}).json()
    assert not refused["ok"] and refused["error_kind"] == "refused"
    assert call("POST", "/api/config/cameras/probe", json={"url": "file:/etc/hostname"}).status_code == 400
    unset = call("POST", "/api/config/cameras/probe", json={"url": "rtsp://viewer:${CITYWALL_CAM_UNSET_1}@h/x"})
    assert (unset.status_code, unset.json()["detail"]) == (400, "url: environment variable 'CITYWALL_CAM_UNSET_1' "
                                                                "is not set")
    assert call("POST", "/api/config/cameras/probe", json={}).status_code == 400

    # Audited, and no answer or audit row ever carried a camera URL.
    created = [r for r in audit_rows(site, "camera.create") if r["success"]]
    assert {r["target"] for r in created} == {"camera:lobby", "camera:c3"}
    assert "url" in created[-1]["detail"]["fields"]
    assert len([r for r in audit_rows(site, "camera.create") if not r["success"]]) == len(refusals) + 2
    updated = [r for r in audit_rows(site, "camera.update") if r["success"]]
    assert [r["target"] for r in updated] == ["camera:c3", "camera:lot", "camera:lobby"]
    assert updated[1]["detail"] == {"fields": ["url"], "probe": True, "restarted": True}  # probed before saving
    assert updated[2]["detail"] == {"fields": ["name"], "probe": None, "restarted": False}
    assert [r["success"] for r in audit_rows(site, "camera.probe")] == [False, True, True]
    audit_text = site.client().get("/api/audit", params={"limit": 1000}).text
    for text in [*answers, audit_text]:
        assert "rtsp://" not in text and f":{rtsp.port}/" not in text


# -- the round trip on its own (no server): what survives an edit -----------------------------------------------


def test_round_trip_keeps_anchors_comments_and_reads_back_as_written(tmp_path: Path) -> None:
    from vision.catalogue import load_catalogue
    from wall.editing import cameras_file, rules_file
    from wall.editing.checks import check_rules

    (tmp_path / "cameras.yaml").write_text(
        "cameras:\n"
        "# the first camera carries the street's defaults\n- &street\n"
        "  id: a  # 解放路口\n  name: A\n  url: rtsp://10.0.0.1/a\n  group: jiefang\n  analysis_interval: 5\n"
        "- <<: *street\n  id: b\n  name: B\n  url: rtsp://10.0.0.1/b\n", encoding="utf-8")
    (tmp_path / "analytics.yaml").write_text(
        "cameras:\n  a:\n    zones:\n"
        "    - {id: one, family: garbage, polygon: [[0, 0], [1, 0], [1, 1]]}\n"
        "    # two: the kerb by the bus stop\n"
        "    - {id: two, family: garbage, polygon: [[0, 0], [0.5, 0], [0.5, 0.5]]}\n"
        "    # three: the bins\n"
        "    - id: three\n      family: garbage\n      polygon: [[0, 0], [0.3, 0], [0.3, 0.3]]\n", encoding="utf-8")

    proposal = cameras_file.propose(tmp_path, "b", {"name": "B 东", "address": "on"}, create=False,
                                    grid_code_length=14, env_prefix="CITYWALL_CAM_")
    camera, _site = cameras_file.save_camera(tmp_path, proposal)
    text = (tmp_path / "cameras.yaml").read_text(encoding="utf-8")
    assert "# the first camera carries the street's defaults\n- &street\n  id: a  # 解放路口\n" in text
    assert "- <<: *street\n  id: b\n  name: B 东\n  url: rtsp://10.0.0.1/b\n" in text, "nothing merged copied in"
    assert "  - " not in text, "the file's own list indentation is kept"
    assert "address: \"on\"" in text, "a word YAML 1.1 reads as a boolean is quoted"
    assert (camera.name, camera.address, camera.group, camera.analysis_interval) == ("B 东", "on", "jiefang", 5)

    rules = rules_file.read_rules(tmp_path, "a").model_dump(mode="json")
    del rules["zones"][1]  # 'two' goes; the comment that introduced 'three' must stay with 'three'
    rules["zones"][0]["schedule"] = [{"start": "20:00", "end": "06:00"}]
    rules_file.save_rules(tmp_path, "a", check_rules(rules, load_catalogue()))
    text = (tmp_path / "analytics.yaml").read_text(encoding="utf-8")
    assert "id: two" not in text
    assert text.index("# three: the bins") < text.index("id: three") and text.index("id: one") < text.index(
        "# three: the bins")
    assert 'start: "20:00"' in text, "quoted: YAML 1.1 (the loader) reads 20:00 as the number 1200"
    assert "code:" not in text, "the family's default code stays implicit, as the file had it"
    loaded = rules_file.read_rules(tmp_path, "a")
    assert [z.id for z in loaded.zones] == ["one", "three"] and loaded.zones[0].schedule[0].end == "06:00"
