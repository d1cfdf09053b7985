"""Labels in the desk (issue 15 item 2) over the real app: the object's class, a corrected box and drawn boxes with
a confirmation; not there / allowed / another class with a rejection; bad boxes and classes refused with a 422;
what is stored in ``labels`` (and the history), and the migration that added it (0016) on SQLite.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from sqlalchemy import select

from tests.case_helpers import event_change
from tests.conftest import LiveServer, SiteStarter
from tests.migration_helpers import table_diff
from vision.replay import store_evidence
from wall.store.accounts import AuditEntry
from wall.store.cases import Case, Label
from wall.store.db import Database

CAMERAS = 'cameras:\n  - {id: cam-a, name: 解放路口, url: "rtsp://127.0.0.1:9/a"}\n'


def frame_jpeg() -> bytes:
    image = np.full((360, 640, 3), (90, 92, 96), np.uint8)
    cv2.rectangle(image, (100, 120), (180, 220), (40, 130, 210), -1)
    ok, data = cv2.imencode(".jpg", image)
    assert ok
    return data.tobytes()


def raise_case(site: LiveServer, place: str) -> int:
    """A case as the analytics raise one, with its clean frame (the picture the labels are drawn on)."""
    desk = site.app.state.services.cases.desk
    change = event_change(desk.evidence_dir, place=place)
    change.evidence["frame"] = str(store_evidence(desk.evidence_dir, frame_jpeg(), ".jpg"))
    case_id = desk.on_event(change)
    assert case_id is not None
    return case_id


def label_of(site: LiveServer, case_id: int) -> Label:
    with site.db.session() as s:
        label = s.scalar(select(Label).where(Label.case_id == case_id))
        assert label is not None
        s.expunge(label)
        return label


def test_label_options_name_the_cards_classes_and_the_reasons_kinds(serve_site: SiteStarter,
                                                                    tmp_path: Path) -> None:
    site = serve_site(CAMERAS, f"server:\n  data_dir: {tmp_path / 'data'}\n")
    site.add_user("op", "operator", grants=("cam-a",))
    options = site.client("op").get("/api/label-options").json()
    classes = {c["name"]: (c["family"], c["name_zh"]) for c in options["classes"]}
    # the families themselves, then the COCO stand-ins the default card feeds them with; no person
    assert classes["street_stall"] == ("street_stall", "摊位") and classes["umbrella"] == ("street_stall", "遮阳伞")
    assert classes["garbage"] == ("garbage", "垃圾堆") and classes["road_occupation"] == ("road_occupation", "堆物")
    assert classes["car"] == ("road_occupation", "汽车") and "person" not in classes
    assert [c["name"] for c in options["classes"]][:2] == ["street_stall", "umbrella"]
    kinds = {r["key"]: r["kind"] for r in options["reasons"]}
    assert (kinds["false_detection"], kinds["licensed_stall"], kinds["wrong_class"], kinds["other"]) == (
        "absent", "allowed", "wrong_class", None)
    assert options["kinds"] == ["absent", "allowed", "wrong_class"]
    assert site.client("op").get("/api/reject-reasons").json()["wrong_class"] == "类别错误"


def test_bad_boxes_and_classes_are_refused_and_good_labels_are_stored(serve_site: SiteStarter,
                                                                      tmp_path: Path) -> None:
    site = serve_site(CAMERAS, f"server:\n  data_dir: {tmp_path / 'data'}\n")
    site.add_user("op", "operator", grants=("cam-a",))
    op = site.client("op", headers={"Origin": site.origin})
    case_id = raise_case(site, "1-1")

    def confirm(body: dict[str, Any]) -> Any:
        return op.post(f"/api/cases/{case_id}/confirm", json=body)

    refused: list[tuple[dict[str, Any], str]] = [
        ({"box": [0.2, 0.3, 1.2, 0.6]}, "within 0 and 1"),  # outside the picture
        ({"box": [0.2, 0.3, 0.2, 0.6]}, "x1 > x0"),  # no width: a click, not a box
        ({"box": [0.5, 0.5, 0.4, 0.6]}, "x1 > x0"),  # upside down
        ({"box": [0.1, 0.2, 0.3]}, ""),  # three numbers
        ({"extra_boxes": [{"box": [0.1, 0.1, 0.1, 0.1]}]}, "x1 > x0"),
        ({"extra_boxes": [{"box": [0.1, 0.1, 0.3, 0.3], "colour": "red"}]}, "Extra inputs"),
        ({"object_class": "umbrella", "kind": "absent"}, "Extra inputs"),  # a kind goes with a rejection
    ]
    for body, words in refused:
        res = confirm(body)
        assert res.status_code == 422, (body, res.text)
        assert words in res.text, (body, res.text)
    res = confirm({"object_class": "flying saucer"})  # unknown to the card: refused by the desk, audited
    assert res.status_code == 422 and "not a target class" in res.json()["detail"]
    res = confirm({"extra_boxes": [{"object_class": "zeppelin", "box": [0.1, 0.1, 0.3, 0.3]}]})
    assert res.status_code == 422 and "zeppelin" in res.json()["detail"]
    for body, words in [
        ({"reason": "wrong_class"}, "give the object_class"),
        ({"reason": "licensed_stall", "kind": "absent"}, "says 'allowed'"),
        ({"reason": "false_detection", "object_class": "car"}, "only as another class"),
        ({"reason": "wrong_class", "object_class": "airship"}, "not a target class"),
    ]:
        res = op.post(f"/api/cases/{case_id}/reject", json=body)
        assert res.status_code == 422, (body, res.text)
        assert words in res.json()["detail"], (body, res.text)
    assert op.post(f"/api/cases/{case_id}/reject", json={"reason": "other", "kind": "maybe"}).status_code == 422
    with site.db.session() as s:
        case = s.get(Case, case_id)
        assert case is not None and case.status == "pending_review"
        assert not s.scalars(select(Label)).all()
        audited = s.scalars(select(AuditEntry).where(AuditEntry.action == "case_confirm")).all()
        assert [(a.success, json.loads(a.detail or "{}")["error"].split(" is ")[0]) for a in audited] == [
            (False, "object_class 'flying saucer'"), (False, "object_class 'zeppelin'")]

    # confirmed with the class chosen, the box corrected and one more object drawn
    res = confirm({"object_class": "dining table", "box": [0.15, 0.3, 0.3, 0.62],
                   "extra_boxes": [{"box": [0.6, 0.5, 0.7, 0.9]}, {"object_class": "garbage",
                                                                   "box": [0.8, 0.7, 0.95, 0.95]}]})
    assert res.status_code == 200, res.text
    label = label_of(site, case_id)
    assert (label.decision, label.kind, label.by, label.place_box) == ("confirmed", None, "op",
                                                                       [100.0, 120.0, 180.0, 220.0])
    assert label.image is not None and label.image.endswith(".jpg")
    assert label.objects == [
        {"object_class": "dining table", "family": "street_stall", "box": [0.15, 0.3, 0.3, 0.62],
         "origin": "corrected"},
        {"object_class": "dining table", "family": "street_stall", "box": [0.6, 0.5, 0.7, 0.9], "origin": "drawn"},
        {"object_class": "garbage", "family": "garbage", "box": [0.8, 0.7, 0.95, 0.95], "origin": "drawn"}]
    history = op.get(f"/api/cases/{case_id}").json()["events"]
    assert history[-1]["action"] == "confirm"
    assert history[-1]["detail"]["classes"] == ["dining table", "dining table", "garbage"]
    assert history[-1]["detail"]["boxes"] == {"corrected": 1, "drawn": 2}

    # rejected as another class (the class it really is, the detector's box), as allowed, as not there
    other, allowed, absent, plain = (raise_case(site, f"{n}-2") for n in range(4))
    res = op.post(f"/api/cases/{other}/reject", json={"reason": "wrong_class", "object_class": "car",
                                                      "text": "是违停车辆"})
    assert res.status_code == 200, res.text
    assert res.json()["reject_reason"] == "wrong_class"
    label = label_of(site, other)
    assert (label.decision, label.kind, label.reason) == ("rejected", "wrong_class", "wrong_class")
    assert label.objects == [{"object_class": "car", "family": "road_occupation", "box": None, "origin": "detector"}]
    assert op.post(f"/api/cases/{allowed}/reject", json={"reason": "licensed_stall"}).status_code == 200
    assert label_of(site, allowed).kind == "allowed"
    assert op.post(f"/api/cases/{absent}/reject", json={"reason": "other", "kind": "absent"}).status_code == 200
    assert (label_of(site, absent).kind, label_of(site, absent).objects) == ("absent", [])
    assert op.post(f"/api/cases/{plain}/reject", json={"reason": "duplicate"}).status_code == 200
    assert label_of(site, plain).kind is None  # a duplicate says nothing of the object


def check_migration(url: str) -> None:
    """0016 on a database of 0015 with labels in it: the columns come, old rejections get their reason's kind; it
    goes down and up again to exactly the model."""
    from alembic import command
    from sqlalchemy import inspect, text

    db = Database(url)
    config = db.alembic_config()
    try:
        with db.engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "0015_model_promotions")
            conn.execute(text(
                "INSERT INTO cases (id, event_id, status, source, camera_id, camera_name, zone_id, family, place, "
                "place_box, code, code_name, catalogue_version, description, boxes, first_seen, last_seen, "
                "raised_at, updated_at) VALUES (1, 'e1', 'rejected', 'ai', 'cam-a', 'a', 'z', 'street_stall', "
                "'1-1', '[0, 0, 1, 1]', '0501', 'x', 'v', '', '[]', '2026-01-01', '2026-01-01', '2026-01-01', "
                "'2026-01-01')"))
            for n, (decision, reason) in enumerate([("rejected", "false_detection"), ("rejected", "licensed_stall"),
                                                    ("rejected", "morning_market"), ("confirmed", None)]):
                conn.execute(text("INSERT INTO labels (id, case_id, decision, reason, code, boxes, place_box, "
                                  "created_at, by) VALUES (:id, 1, :decision, :reason, '0501', '[]', '[0, 0, 1, 1]', "
                                  "'2026-01-01', 'op')"), {"id": n + 1, "decision": decision, "reason": reason})
            command.upgrade(config, "head")
            rows = conn.execute(text("SELECT kind, objects FROM labels ORDER BY id")).all()
            assert [(k, o if isinstance(o, list) else json.loads(o)) for k, o in rows] == [
                ("absent", []), ("allowed", []), (None, []), (None, [])]  # PostgreSQL hands back JSON parsed
            command.downgrade(config, "0015_model_promotions")
            assert "kind" not in {c["name"] for c in inspect(conn).get_columns("labels")}
            command.upgrade(config, "head")
        assert table_diff(db, "labels") == []
    finally:
        db.dispose()


def test_migration_0016_on_sqlite(tmp_path: Path) -> None:
    from wall.store.db import database_url

    check_migration(database_url(tmp_path))


@pytest.mark.slow
def test_migration_0016_on_postgresql(postgres_server: int) -> None:
    from tests.pg import database_url

    check_migration(database_url(postgres_server))


def test_the_classes_follow_the_card_in_service(tmp_path: Path) -> None:
    """A site's own card (a trained model's) feeds the families with its classes; a promotion switches them."""
    import yaml

    from vision.card import DEFAULT_CARD
    from wall.cases.labelling import TargetClasses

    card = yaml.safe_load(DEFAULT_CARD.read_text(encoding="utf-8"))
    card["families"] = {"street_stall": ["chair"], "garbage": ["bottle"], "road_occupation": []}
    card["file"] = str(DEFAULT_CARD.parent / card["file"])
    site_card = tmp_path / "site.yaml"
    site_card.write_text(yaml.safe_dump(card, allow_unicode=True), encoding="utf-8")
    classes = TargetClasses(site_card)
    assert [(c.name, c.family) for c in classes.all()] == [
        ("street_stall", "street_stall"), ("chair", "street_stall"), ("road_occupation", "road_occupation"),
        ("garbage", "garbage"), ("bottle", "garbage")]
    assert classes.get("bottle") is not None and classes.get("umbrella") is None
    classes.use(DEFAULT_CARD)
    assert classes.get("bottle") is None and classes.get("umbrella") is not None
