"""``citywall dataset export`` / ``stats`` (issue 15 item 3) on cases raised from real events.

The events come from the lobby clip through the real pipeline (``vision.replay.Replay``: sampler, YOLOX-nano,
tracker, rules, evidence with the clean frame); the case desk raises them on a real SQLite database as it does
live. Three cameras over two days are stood in for by the same clip's events under other camera ids and times
(the pictures and boxes are the real ones). Operators' decisions go through the desk; the export runs as the
command line.
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
RULES = {"zones": [{
    "id": "table", "name": "站台桌", "family": "street_stall", "code": "0501", "require_object": False,
    "polygon": [[0.40, 0.70], [0.80, 0.70], [0.80, 1.0], [0.40, 1.0]], "dwell_seconds": 14, "grace_seconds": 4,
    "clear_after_seconds": 6, "alarm_interval_seconds": 5, "confirm": {"hits": 3, "looks": 4}}]}


@dataclasses.dataclass
class Site:
    config: Path
    desk: CaseDesk
    decisions: dict[int, tuple[str, str | None]]  # case id → (decision, reason); undecided cases are absent
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
                    reject_reasons=list(DEFAULT_REJECT_REASONS))
    decisions: dict[int, tuple[str, str | None]] = {}
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
                    desk.reject(case_id, "op2", reason="licensed_stall")  # a real stall, allowed: no negative
                    decisions[case_id] = ("rejected", "licensed_stall")
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
    return Site(config, desk, decisions, legacy, filed.id)


def manifest(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "manifest.jsonl").read_text(encoding="utf-8").splitlines()]


def test_export_writes_a_traceable_yolo_dataset_split_by_scene(site: Site, tmp_path: Path) -> None:
    out = tmp_path / "ds"
    result = cli("export", "--config", str(site.config), "--out", str(out), "--coco", "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    negatives = {k for k, (d, r) in site.decisions.items() if d == "rejected" and r == "false_detection"}
    positives = {k for k, (d, _) in site.decisions.items() if d == "confirmed"}
    assert (summary["positives"], summary["negatives"]) == (len(positives), len(negatives))
    assert summary["classes"] == ["street_stall"]
    skipped = {s["case_id"]: s["why"] for s in summary["skipped"]}
    assert set(skipped) == {site.legacy} | {k for k, (_, r) in site.decisions.items() if r == "licensed_stall"}
    assert "annotated" in skipped[site.legacy]

    entries = manifest(out)
    assert {e["case_id"] for e in entries} == positives | negatives
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
            lines = (out / entry["label"]).read_text().splitlines()
            if entry["decision"] == "rejected":
                assert lines == [] and entry["labels"] == []  # a rejection is only ever a negative
            else:
                [line] = lines
                cls, cx, cy, w, h = line.split()
                x1, y1, x2, y2 = label.place_box
                assert cls == "0"
                assert float(cx) == pytest.approx((x1 + x2) / 2 / 640, abs=1e-4)
                assert float(w) == pytest.approx((x2 - x1) / 640, abs=1e-4)
                assert float(cy) == pytest.approx((y1 + y2) / 2 / 360, abs=1e-4)
                assert float(h) == pytest.approx((y2 - y1) / 360, abs=1e-4)
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
    assert data["names"] == {0: "street_stall"} and (data["train"], data["val"]) == ("images/train", "images/val")
    assert Path(data["path"]) == out.resolve()
    coco = json.loads((out / "annotations" / "instances_train.json").read_text(encoding="utf-8"))
    train = [e for e in entries if e["split"] == "train"]
    assert len(coco["images"]) == len(train)
    assert len(coco["annotations"]) == sum(e["decision"] == "confirmed" for e in train)
    assert coco["categories"] == [{"id": 1, "name": "street_stall"}]

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
    assert counts["per_decision"] == {"confirmed": confirmed, "rejected": sum(
        r == "false_detection" for _, r in site.decisions.values())}
    assert counts["per_class"]["street_stall"] == confirmed
    assert set(counts["per_camera"]) == set(CAMERAS)
    assert sum(counts["skipped"].values()) == 2
    text = cli("stats", "--config", str(site.config), "--negative-reasons", "false_detection,licensed_stall")
    assert text.returncode == 0 and "licensed_stall" in text.stdout

    nothing = cli("export", "--config", str(site.config), "--out", str(tmp_path / "none"), "--camera", "nowhere")
    assert nothing.returncode == 1 and "no decided case" in nothing.stderr
    bad = cli("export", "--config", str(site.config), "--out", str(tmp_path / "bad"), "--since", "yesterday")
    assert bad.returncode == 2 and "not a date" in bad.stderr
