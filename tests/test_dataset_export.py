"""``citywall dataset export`` / ``stats`` (issue 15 item 3) on cases raised from real events.

The events come from the lobby clip through the real pipeline (``vision.replay.Replay``: sampler, YOLOX-nano,
tracker, rules, evidence with the clean frame); the case desk raises them on a real SQLite database as it does
live. Three cameras over two days are stood in for by the same clip's events under other camera ids and times
(the pictures and boxes are the real ones). Operators' decisions go through the desk; the export runs as the
command line. Some decisions carry labels as the desk gives them (wall/cases/labelling.py): a corrected box and a
drawn one with a confirmation, another class with a rejection.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from PIL import Image
from sqlalchemy import select

from vision.card import DEFAULT_CARD
from vision.catalogue import load_catalogue
from vision.detector import Detector
from vision.events import EventChange
from vision.replay import Replay
from vision.rules_config import CameraRules
from wall.cases.desk import CaseDesk
from wall.cases.labelling import DrawnBox, LabelDraft, with_label_reasons
from wall.cases.models import FiledCase
from wall.config import load_config
from wall.demo import MEDIA
from wall.hall_settings import DEFAULT_REJECT_REASONS
from wall.store.accounts import AuditEntry
from wall.store.cases import Label
from wall.store.db import open_database

pytestmark = pytest.mark.slow
PERSON = MEDIA / "one-by-one-person-detection.mp4"
CAMERAS = ("lobby", "hall", "gate")
DAY0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC).timestamp()
CORRECTED, DRAWN, CAR = (0.45, 0.55, 0.75, 0.95), (0.05, 0.6, 0.2, 0.9), (0.3, 0.4, 0.6, 0.7)
ROLES = {"false_detection": "hard_negative", "licensed_stall": "positive", "wrong_class": "positive", None: "positive"}
RULES = {"zones": [{
    "id": "table", "name": "站台桌", "family": "street_stall", "code": "0501", "require_object": False,
    "polygon": [[0.40, 0.70], [0.80, 0.70], [0.80, 1.0], [0.40, 1.0]], "dwell_seconds": 14, "grace_seconds": 4,
    "clear_after_seconds": 6, "alarm_interval_seconds": 5, "confirm": {"hits": 3, "looks": 4}}]}


@dataclasses.dataclass
class Site:
    config: Path
    desk: CaseDesk
    decisions: dict[int, tuple[str, str | None]]  # case id → (decision, reason); undecided cases are absent
    corrected: int  # confirmed with the box corrected (CORRECTED) and one drawn (DRAWN)
    other_class: int  # rejected as another class: a car (road_occupation), its box corrected (CAR)
    legacy: int  # a case decided on before clean frames were kept
    filed: int  # a case an operator filed from video


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "wall.cli", "dataset", *args], capture_output=True, text=True,
                          timeout=120, check=False)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    root = tmp_path_factory.mktemp("dataset")
    config = root / "site"
    config.mkdir()
    (config / "cameras.yaml").write_text("cameras:\n" + "".join(
        f"  - {{id: {cam}, name: {cam}, url: 'file:{PERSON}'}}\n" for cam in CAMERAS), encoding="utf-8")
    (config / "server.yaml").write_text(f"server:\n  data_dir: {root / 'data'}\n", encoding="utf-8")
    loaded = load_config(config)
    detector = Detector(DEFAULT_CARD)
    replay = Replay(PERSON, CameraRules.model_validate(RULES), detector, detector.card.families, load_catalogue(),
                    out_dir=loaded.evidence_dir, start_wall=DAY0)
    opened = [c for c in replay.run() if c.kind == "opened"]
    assert len(opened) == 3 and all("frame" in c.evidence for c in opened)
    desk = CaseDesk(open_database(loaded.data_dir), loaded.cameras, load_catalogue(), loaded.evidence_dir,
                    reject_reasons=list(with_label_reasons(DEFAULT_REJECT_REASONS)))
    decisions: dict[int, tuple[str, str | None]] = {}
    corrected = other_class = 0
    n = 0
    for day in range(2):
        for c, camera in enumerate(CAMERAS):
            for change in opened:
                shift = day * 86400 + c * 3600
                copy = dataclasses.replace(change, event_id=uuid.uuid4().hex, camera_id=camera, place=f"{n}-0",
                                           first_seen=change.first_seen + shift, t=change.t + shift,
                                           evidence=dict(change.evidence))
                case_id = desk.on_event(copy)
                assert case_id is not None
                if n == 7:
                    pass  # left pending: not a decision, not in the dataset
                elif n == 8:
                    desk.reject(case_id, "op2", reason="licensed_stall")  # there but allowed: a positive
                    decisions[case_id] = ("rejected", "licensed_stall")
                elif n == 4:  # the operator corrects the detector's box and draws the stall it missed
                    desk.confirm(case_id, "op1", label=LabelDraft(object_class="umbrella", box=CORRECTED,
                                                                  extra_boxes=[DrawnBox(box=DRAWN)]))
                    decisions[case_id], corrected = ("confirmed", None), case_id
                elif n == 5:  # not a stall but a parked car: a positive of road_occupation
                    desk.reject(case_id, "op2", reason="wrong_class", label=LabelDraft(object_class="car", box=CAR))
                    decisions[case_id], other_class = ("rejected", "wrong_class"), case_id
                elif n % 3 == 0:
                    desk.reject(case_id, "op1", reason="false_detection")
                    decisions[case_id] = ("rejected", "false_detection")
                else:
                    desk.confirm(case_id, "op1")
                    decisions[case_id] = ("confirmed", None)
                n += 1
    old: EventChange = dataclasses.replace(opened[0], event_id=uuid.uuid4().hex, place="legacy-0",
                                           evidence={"snapshot": opened[0].evidence["snapshot"]})
    legacy = desk.on_event(old)
    assert legacy is not None
    desk.confirm(legacy, "op1")
    # 视频巡查: an operator files a case from a tile; its still is a clean keyframe and its box the drawn one
    filed = desk.file(FiledCase(
        camera_id="gate", user="op3", code="0501", box=opened[0].place_box, description="巡查发现", grid_code=None,
        street=None, community=None, address=None, seen_at=datetime.fromtimestamp(DAY0 + 2 * 3600 + 500, UTC),
        seconds_ago=0.0, evidence={"snapshot": opened[0].evidence["frame"]}, missing_evidence={}, webhook=False))
    decisions[filed.id] = ("confirmed", None)
    return Site(config, desk, decisions, corrected, other_class, legacy, filed.id)


def yolo(box: tuple[float, float, float, float]) -> list[float]:
    return [(box[0] + box[2]) / 2, (box[1] + box[3]) / 2, box[2] - box[0], box[3] - box[1]]


def manifest(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "manifest.jsonl").read_text(encoding="utf-8").splitlines()]


def test_export_writes_a_traceable_yolo_dataset_split_by_scene(site: Site, tmp_path: Path) -> None:
    out = tmp_path / "ds"
    result = cli("export", "--config", str(site.config), "--out", str(out), "--coco", "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    roles = {k: ROLES[r] for k, (_, r) in site.decisions.items()}
    negatives = {k for k, role in roles.items() if role != "positive"}
    positives = {k for k, role in roles.items() if role == "positive"}
    allowed = {k for k, (_, r) in site.decisions.items() if r == "licensed_stall"}
    assert allowed and allowed <= positives  # there but allowed: the object is there
    assert (summary["positives"], summary["allowed"], summary["hard_negatives"]) == (
        len(positives), len(allowed), len(negatives))
    assert summary["classes"] == ["road_occupation", "street_stall"]
    skipped = {s["case_id"]: s["why"] for s in summary["skipped"]}
    assert set(skipped) == {site.legacy}
    assert "annotated" in skipped[site.legacy]

    entries = manifest(out)
    assert {e["case_id"] for e in entries} == positives | negatives
    assert {e["case_id"]: e["role"] for e in entries} == roles  # the manifest says which is which
    ids = {name: i for i, name in enumerate(summary["classes"])}
    with site.desk.db.session() as s:
        labels = {row.id: row for row in s.scalars(select(Label))}
        for entry in entries:  # every label traces back to its case, the decision, who and the source frame
            label = labels[entry["label_id"]]
            assert (label.case_id, label.decision, label.by) == (entry["case_id"], entry["decision"], entry["by"])
            kind = "snapshot" if entry["case_id"] == site.filed else "frame"  # a filing's still is clean
            assert entry["frame"]["kind"] == kind and label.image == entry["frame"]["name"]
            assert entry["source"] == ("patrol" if entry["case_id"] == site.filed else "ai")
            data = (out / entry["image"]).read_bytes()
            assert hashlib.sha256(data).hexdigest() == entry["frame"]["sha256"]
            with Image.open(out / entry["image"]) as picture:
                assert picture.size == (entry["width"], entry["height"]) == (640, 360)
            lines = [[float(v) for v in line.split()] for line in (out / entry["label"]).read_text().splitlines()]
            if entry["role"] != "positive":
                assert lines == [] and entry["labels"] == []  # a hard negative: an empty label file
                continue
            if entry["case_id"] in allowed:
                assert (entry["decision"], entry["kind"]) == ("rejected", "allowed")
            x1, y1, x2, y2 = label.place_box
            detector = [(x1 + x2) / 2 / 640, (y1 + y2) / 2 / 360, (x2 - x1) / 640, (y2 - y1) / 360]
            if entry["case_id"] == site.corrected:  # the corrected box in the detector's place, the drawn one added
                assert [e["origin"] for e in entry["labels"]] == ["corrected", "drawn"]
                want = [[ids["street_stall"], *yolo(CORRECTED)], [ids["street_stall"], *yolo(DRAWN)]]
            elif entry["case_id"] == site.other_class:  # a positive of the class chosen, not a negative
                assert (entry["decision"], entry["kind"], entry["labels"][0]["object_class"]) == (
                    "rejected", "wrong_class", "car")
                want = [[ids["road_occupation"], *yolo(CAR)]]
            else:
                want = [[ids["street_stall"], *detector]]
            assert lines == [pytest.approx(w, abs=1e-4) for w in want], entry["case_id"]
        audit = s.scalars(select(AuditEntry).where(AuditEntry.action == "dataset.export")).all()
        assert len(audit) == 1 and json.loads(audit[0].detail or "{}")["positives"] == len(positives)

    # the split: whole (camera, day) scenes, so no scene minute is on both sides
    minutes = {side: {(e["camera"], e["frame"]["taken_at"][:16]) for e in entries if e["split"] == side}
               for side in ("train", "val")}
    assert minutes["train"] and minutes["val"] and not minutes["train"] & minutes["val"]
    days = {side: {(e["camera"], e["frame"]["taken_at"][:10]) for e in entries if e["split"] == side}
            for side in ("train", "val")}
    assert not days["train"] & days["val"]
    assert sorted(summary["groups"]["val"]) == sorted(f"{c}/{d}" for c, d in days["val"])

    data = yaml.safe_load((out / "dataset.yaml").read_text(encoding="utf-8"))
    assert data["names"] == {0: "road_occupation", 1: "street_stall"}
    assert (data["train"], data["val"]) == ("images/train", "images/val")
    assert Path(data["path"]) == out.resolve()
    coco = json.loads((out / "annotations" / "instances_train.json").read_text(encoding="utf-8"))
    train = [e for e in entries if e["split"] == "train"]
    assert len(coco["images"]) == len(train)
    assert len(coco["annotations"]) == sum(len(e["labels"]) for e in train)
    assert coco["categories"] == [{"id": 1, "name": "road_occupation"}, {"id": 2, "name": "street_stall"}]

    again = cli("export", "--config", str(site.config), "--out", str(out))
    assert again.returncode == 1 and "not empty" in again.stderr  # never written over


def test_filters_and_stats(site: Site, tmp_path: Path) -> None:
    out = tmp_path / "lobby"
    result = cli("export", "--config", str(site.config), "--out", str(out), "--camera", "lobby", "--decision",
                 "confirmed", "--since", "2026-11-24", "--json")
    assert result.returncode == 0, result.stderr
    entries = manifest(out)
    assert entries and {(e["camera"], e["decision"], e["frame"]["taken_at"][:10]) for e in entries} == {
        ("lobby", "confirmed", "2026-11-24")}
    # one (camera, day) group: all of it trains, nothing can validate without sharing its scene
    assert {e["split"] for e in entries} == {"train"}

    stats = cli("stats", "--config", str(site.config), "--json")
    assert stats.returncode == 0, stats.stderr
    counts = json.loads(stats.stdout)
    confirmed = sum(d == "confirmed" for d, _ in site.decisions.values())
    assert counts["per_decision"] == {"confirmed": confirmed, "rejected": len(site.decisions) - confirmed}
    allowed = sum(r == "licensed_stall" for _, r in site.decisions.values())
    assert counts["per_class"]["street_stall"] == confirmed + 1 + allowed  # a drawn box; the allowed stalls
    assert counts["per_class"]["road_occupation"] == 1  # the car
    assert counts["per_role"] == {"positive": confirmed + 1 + allowed, "hard_negative": sum(
        r == "false_detection" for _, r in site.decisions.values())}
    assert set(counts["per_camera"]) == set(CAMERAS)
    assert sum(counts["skipped"].values()) == 1
    text = cli("stats", "--config", str(site.config), "--negative-reasons", "false_detection,licensed_stall")
    assert text.returncode == 0 and "licensed_stall" in text.stdout

    by_code = cli("export", "--config", str(site.config), "--out", str(tmp_path / "code"), "--classes", "code",
                  "--json")
    assert by_code.returncode == 0, by_code.stderr
    summary = json.loads(by_code.stdout)
    assert summary["classes"] == ["0501"]  # a code names only objects of the case's own family
    why = {s["case_id"]: s["why"] for s in summary["skipped"]}
    assert why[site.other_class].startswith("another family's object")

    nothing = cli("export", "--config", str(site.config), "--out", str(tmp_path / "none"), "--camera", "nowhere")
    assert nothing.returncode == 1 and "no decided case" in nothing.stderr
    bad = cli("export", "--config", str(site.config), "--out", str(tmp_path / "bad"), "--since", "yesterday")
    assert bad.returncode == 2 and "not a date" in bad.stderr
