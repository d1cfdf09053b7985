"""The learning loop end to end (issue 15 items 4–5): cases → decisions → export → train → evaluate → promote.

No street-stall or piled-goods footage exists on this machine, so synthetic objects stand in for them: a striped
awning over a blue crate, drawn with OpenCV and pasted into frames of the real sample clips (wall/demo_site/media).
The COCO card has no such class — its road_occupation stand-ins are vehicles, and these clips have none — so it
finds nothing; a tiny model trained from scratch (yolo11n.yaml, a few epochs on the CPU) learns to find them.

Real parts throughout: the app on a socket with its SQLite database; cases raised on its own case desk with
clean frames in its evidence store; operators' decisions through the HTTP API; ``citywall dataset export``,
``citywall train --evaluate`` and ``citywall model history`` as command lines; the evaluation replays the held-out
cases through the live pipeline; the promotion goes through the admin API and the running service (a camera
showing the synthetic object) starts raising cases with the new card without a restart.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
import pytest
from sqlalchemy import select

from tests.conftest import LiveServer, start_site, wait_until
from vision.card import DEFAULT_CARD
from vision.catalogue import load_catalogue
from vision.events import Box, EventChange
from vision.evidence import store_evidence
from wall.demo import MEDIA
from wall.store.accounts import AuditEntry

pytest.importorskip("ultralytics", reason="citywall train needs the train extra (pip install 'citywall[train]')")
pytestmark = pytest.mark.slow

CLIPS = ("one-by-one-person-detection.mp4", "bottle-detection.mp4")
SIZE = (640, 360)
CASE_CAMERAS = ("north", "south", "gate")
DAYS = [datetime(2026, 11, d, 10, 0, tzinfo=UTC).timestamp() for d in (20, 21, 22)]
PER_GROUP = 8  # cases per (camera, day): 9 scenes, 72 cases
ANALYTICS = """\
# the pavement in front of the shops: piled goods (乱堆物堆料)
cameras:
{cameras}
"""
ZONE = """\
  {camera}:
    zones:
      - id: pavement
        name: 人行道
        family: road_occupation
        code: "0507"
        polygon: [[0, 0], [1, 0], [1, 1], [0, 1]]
        dwell_seconds: 4
        grace_seconds: 2
        clear_after_seconds: 4
        alarm_interval_seconds: 5
        min_score: 0.05
        confirm: {{hits: 2, looks: 3}}
"""


def goods(image: np.ndarray, rng: random.Random) -> tuple[float, float, float, float]:
    """Paste the synthetic object (a striped awning over a crate with a yellow sign); its box in pixels."""
    h, w = image.shape[:2]
    bw, bh = rng.randint(110, 170), rng.randint(80, 120)
    x, y = rng.randint(0, w - bw), rng.randint(h // 4, h - bh)
    for k in range(0, bw, 16):
        cv2.rectangle(image, (x + k, y), (x + min(k + 8, bw), y + bh // 3), (0, 0, 230), -1)
        cv2.rectangle(image, (x + k + 8, y), (x + min(k + 16, bw), y + bh // 3), (255, 255, 255), -1)
    cv2.rectangle(image, (x, y + bh // 3), (x + bw, y + bh), (200, 120, 20), -1)
    cv2.circle(image, (x + bw // 2, y + 2 * bh // 3), bh // 6, (0, 220, 255), -1)
    return float(x), float(y), float(x + bw), float(y + bh)


def backgrounds(count: int) -> list[np.ndarray]:
    """Frames of the real sample clips at the analytics' size, spread over both clips."""
    frames: list[np.ndarray] = []
    for name in CLIPS:
        with av.open(str(MEDIA / name)) as container:
            for i, frame in enumerate(container.decode(video=0)):
                if i % 7 == 0:
                    frames.append(cv2.resize(frame.to_ndarray(format="bgr24"), SIZE))
                if len(frames) >= count * (CLIPS.index(name) + 1) // len(CLIPS):
                    break
    return frames


def write_clip(path: Path, frames: list[np.ndarray], fps: int = 5) -> None:
    """An H.264 clip of ``frames`` (a keyframe a second), as a camera would send."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = SIZE[0], SIZE[1], "yuv420p"
        stream.options = {"g": str(fps), "preset": "ultrafast"}
        for image in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "2"}
    return subprocess.run([sys.executable, "-m", "wall.cli", *args], capture_output=True, text=True,
                          timeout=timeout, check=False, env=env)


@dataclasses.dataclass
class Loop:
    config: Path
    live: LiveServer
    injected: set[str]  # event ids of the cases the test raised (the rest the running service raised itself)
    decisions: dict[int, str]
    dataset: Path
    train: dict[str, Any]
    evaluation: dict[str, Any]
    train_seconds: float


def _raise_cases(live: LiveServer, config: Path) -> tuple[set[str], dict[int, str]]:
    """72 cases over 3 cameras × 3 days on the running desk, each with its clean frame: three in four show the
    synthetic goods (the operators confirm them), the others the bare scene with something the detector took
    for goods (they reject them: false_detection, hard negatives)."""
    catalogue = load_catalogue()
    desk = live.app.state.services.cases.desk
    evidence_dir = live.app.state.services.site.evidence_dir
    rng = random.Random(15)
    frames = backgrounds(len(CASE_CAMERAS) * len(DAYS) * PER_GROUP)
    injected: set[str] = set()
    decisions: dict[int, str] = {}
    n = 0
    client = live.client()
    for day in DAYS:
        for camera in CASE_CAMERAS:
            for k in range(PER_GROUP):
                image = frames[n % len(frames)].copy()
                positive = k % 4 != 3
                box = goods(image, rng) if positive else (200.0, 150.0, 320.0, 250.0)
                clean = cv2.imencode(".jpg", image)[1].tobytes()
                shown = image.copy()
                cv2.rectangle(shown, (int(box[0]), int(box[1])), (int(box[2]), int(box[3])), (0, 0, 255), 2)
                t = day + n * 60.0
                change = EventChange(
                    kind="opened", event_id=uuid.uuid4().hex, camera_id=camera, zone_id="pavement",
                    family="road_occupation", code="0507", code_name=catalogue.codes["0507"].name,
                    catalogue_version=catalogue.version, place=f"{n}-0", place_box=box, frame_size=SIZE,
                    first_seen=t - 10, t=t, t_stream=0.0, dwell=10.0, boxes=[Box("road_occupation", 0.6, box, 1)])
                change.evidence["frame"] = str(store_evidence(evidence_dir, clean, ".jpg"))
                if k % 4 == 0:  # some cases keep their raise clip too: the evaluation replays the clip then
                    clip = config / f"clip-{n}.mp4"
                    write_clip(clip, [image] * 10)
                    change.evidence["clip"] = str(store_evidence(evidence_dir, clip.read_bytes(), ".mp4"))
                    clip.unlink()
                change.evidence["snapshot"] = str(store_evidence(evidence_dir, cv2.imencode(".jpg", shown)[1]
                                                                 .tobytes(), ".jpg"))
                case_id = desk.on_event(change)
                assert case_id is not None
                injected.add(change.event_id)
                decision = "confirm" if positive else "reject"
                body = {} if positive else {"reason": "false_detection"}
                res = client.post(f"/api/cases/{case_id}/{decision}", json=body)
                assert res.status_code == 200, res.text
                decisions[case_id] = "confirmed" if positive else "rejected"
                n += 1
    return injected, decisions


@pytest.fixture(scope="module")
def loop(tmp_path_factory: pytest.TempPathFactory) -> Any:
    root = tmp_path_factory.mktemp("learning")
    config = root / "site"
    config.mkdir()
    live_frames = []
    for image in backgrounds(40)[:20]:  # the live camera: the goods stand at one place while people pass
        copy = image.copy()
        goods(copy, random.Random(3))
        live_frames.append(copy)
    write_clip(config / "gate.mp4", live_frames * 3)
    cameras = "cameras:\n" + "".join(  # only the gate runs: the others' cases are history
        f"  - {{id: {cam}, name: {cam}, url: 'file:gate.mp4', analysis_interval: 1, "
        f"enabled: {'true' if cam == 'gate' else 'false'}}}\n" for cam in CASE_CAMERAS)
    analytics = ANALYTICS.format(cameras="".join(ZONE.format(camera=cam) for cam in CASE_CAMERAS).rstrip("\n"))
    live = start_site(config, cameras, f"server:\n  data_dir: {root / 'data'}\n", analytics)
    try:
        injected, decisions = _raise_cases(live, config)
        dataset = root / "dataset"
        export = cli("dataset", "export", "--config", str(config), "--out", str(dataset), "--val-fraction", "0.34",
                     "--json")
        assert export.returncode == 0, export.stderr
        started = time.monotonic()
        trained = cli("train", str(dataset), "--out", str(config / "models" / "goods-v1"), "--base", "yolo11n.yaml",
                      "--epochs", "20", "--imgsz", "160", "--batch", "8", "--lr0", "0.01",
                      "--name", "goods-v1", "--score-threshold", "0.05", "--evaluate", str(config), "--json")
        seconds = time.monotonic() - started
        assert trained.returncode == 0, trained.stderr[-3000:]
        result = json.loads(trained.stdout)
        evaluation = json.loads(Path(result["evaluation"]).read_text(encoding="utf-8"))
        yield Loop(config, live, injected, decisions, dataset, result, evaluation, seconds)
    finally:
        live.__exit__(None, None, None)


def _family(card: dict[str, Any], family: str) -> dict[str, Any]:
    return next(f for f in card["families"] if f["family"] == family)


def _live_cases(loop: Loop) -> list[dict[str, Any]]:
    """Cases the running service raised itself at the gate camera (not those the test put on the desk)."""
    with loop.live.client() as client:
        items = client.get("/api/cases", params={"camera": "gate", "limit": 200}).json()["items"]
    desk = loop.live.app.state.services.cases.desk
    from wall.store.cases import Case

    with desk.db.session() as s:
        events = {c.id: c.event_id for c in s.scalars(select(Case).where(Case.camera_id == "gate"))}
    return [c for c in items if events.get(c["id"]) not in loop.injected]


def test_train_writes_an_onnx_model_and_its_card(loop: Loop) -> None:
    result = loop.train
    card = Path(result["card"])
    assert card.parent == loop.config / "models" / "goods-v1" and Path(result["onnx"]).is_file()
    assert result["classes"] == ["road_occupation"]
    assert result["families"] == {"road_occupation": ["road_occupation"]}
    text = card.read_text(encoding="utf-8")
    manifest = json.loads(json.dumps(result))["manifest_sha256"]
    assert manifest and manifest in text and result["onnx_sha256"] in text  # provenance in the card's source
    assert "AGPL-3.0" in text and "yolo11n.yaml" in text and "20 epochs at 160 px" in text
    from vision.detector import Detector

    detector = Detector(card)  # the card fits its graph: 160 px, one class
    assert detector.input_hw == (160, 160) and detector.class_names == ("road_occupation",)
    print(f"trained and evaluated in {loop.train_seconds:.0f} s")


def test_evaluation_finds_what_the_coco_card_cannot(loop: Loop) -> None:
    evaluation = loop.evaluation
    held = {c["case_id"] for c in evaluation["cases"]}
    trained_on = {json.loads(line)["case_id"] for line in (loop.dataset / "manifest.jsonl").read_text().splitlines()
                  if json.loads(line)["split"] == "train"}
    assert held and not held & trained_on  # held out: never trained on
    candidate = _family(evaluation["candidate"], "road_occupation")
    current = _family(evaluation["current"], "road_occupation")
    assert candidate["positives"] > 0 and candidate["negatives"] > 0
    assert candidate["recall"] >= 0.5, evaluation["candidate"]
    assert candidate["raised_rejected"] < candidate["negatives"]  # it learnt the goods, not "raise everywhere"
    assert current["raised_confirmed"] == 0 and current["recall"] == 0.0  # COCO: no class for the goods
    assert evaluation["current"]["name"] == "yolox-nano-coco-416"
    assert evaluation["candidate"]["ms_cpu_per_look"] > 0 and evaluation["current"]["ms_cpu_per_look"] > 0
    for case in evaluation["cases"]:
        assert case["decision"] == loop.decisions[case["case_id"]]
    assert {c["source"] for c in evaluation["cases"]} == {"clip", "frame"}  # the clip where the case kept one
    assert all(c["raised"]["candidate"] for c in evaluation["cases"] if c["source"] == "clip")


def test_train_refuses_what_it_cannot_use(tmp_path: Path, loop: Loop) -> None:
    """No download of a base named but absent, no dataset without dataset.yaml, no training over a model."""
    missing = cli("train", str(loop.dataset), "--out", str(tmp_path / "a"), "--base", "yolo11n.pt", timeout=120)
    assert missing.returncode == 2 and "nothing is downloaded" in missing.stderr
    empty = cli("train", str(tmp_path), "--out", str(tmp_path / "b"), "--base", "yolo11n.yaml", timeout=120)
    assert empty.returncode == 2 and "dataset.yaml" in empty.stderr
    taken = cli("train", str(loop.dataset), "--out", str(loop.config / "models" / "goods-v1"), "--base",
                "yolo11n.yaml", timeout=120)
    assert taken.returncode == 1 and "not empty" in taken.stderr
    # citywall evaluate on its own: one camera's held-out cases, the site's card as the current one
    card = loop.config / "models" / "goods-v1" / "goods-v1.yaml"
    alone = cli("evaluate", str(loop.config), "--candidate", str(card), "--dataset", str(loop.dataset), "--camera",
                "north", "--json", str(tmp_path / "north.json"), timeout=300)
    assert alone.returncode == 0, alone.stderr
    assert "detector ms CPU per look" in alone.stdout and "yolox-nano-coco-416" in alone.stdout
    north = json.loads((tmp_path / "north.json").read_text(encoding="utf-8"))
    assert {c["camera"] for c in north["cases"]} <= {"north"}
    assert north["candidate"]["card"] == str(card) and north["current"]["name"] == "yolox-nano-coco-416"


def test_promotion_switches_the_running_model_and_rollback_restores_it(loop: Loop) -> None:
    live = loop.live
    assert _live_cases(loop) == []  # minutes of the gate camera with the COCO card: nothing raised
    card = "models/goods-v1/goods-v1.yaml"
    with live.client() as admin:
        page = admin.get("/api/models").json()
        assert page["current_name"] == "yolox-nano-coco-416" and page["applied"] and page["previous"] is None
        [candidate] = [c for c in page["candidates"] if c["card"] == card]
        assert candidate["evaluation"]["candidate"]["name"] == "goods-v1"

        live.add_user("op", "operator")
        with live.client("op") as operator:
            assert operator.post("/api/models/promote", json={"card": card}).status_code == 403
        refused = admin.post("/api/models/promote", json={"card": "../outside.yaml"})
        assert refused.status_code == 422
        other = json.loads(json.dumps(loop.evaluation))
        other["candidate"]["card"] = str(loop.config / "models" / "other.yaml")
        assert admin.post("/api/models/promote", json={"card": card, "evaluation": other}).status_code == 422

        def offered() -> set[str]:  # the classes the desk offers for a label
            return {c["name"] for c in admin.get("/api/label-options").json()["classes"]}

        assert "car" in offered()  # the COCO card's stand-in for road_occupation
        promoted = admin.post("/api/models/promote", json={"card": card})
        assert promoted.status_code == 200, promoted.text
        assert "car" not in offered() and "road_occupation" in offered()  # the trained card's, without a restart
        page = promoted.json()
        assert page["current"] == card and page["current_name"] == "goods-v1" and page["applied"]
        assert page["previous"].endswith("yolox_nano_coco_416.yaml")
        assert page["history"][0]["action"] == "promote" and page["history"][0]["evaluation"]["held_out"] > 0
        text = (loop.config / "analytics.yaml").read_text(encoding="utf-8")
        assert f"model: {card}" in text and "# the pavement in front of the shops" in text  # comments kept

        # no restart: the running analytics detect with the new card and raise on the goods within seconds
        assert wait_until(lambda: _live_cases(loop), 60, 1.0), "the promoted model raised nothing at the gate"
        counters = live.app.state.services.runtime.analytics_counters()
        assert counters.detector.model == "goods-v1"

        back = admin.post("/api/models/rollback")
        assert back.status_code == 200, back.text
        assert back.json()["current_name"] == "yolox-nano-coco-416" and back.json()["previous"] is None
        assert "model:" not in (loop.config / "analytics.yaml").read_text(encoding="utf-8")
        assert admin.post("/api/models/rollback").status_code == 409  # nothing further back
    assert live.app.state.services.runtime.analytics_counters().detector.model == "yolox-nano-coco-416"
    with live.db.session() as s:
        actions = [(a.action, a.success) for a in s.scalars(select(AuditEntry).where(
            AuditEntry.action.in_(["model.promote", "model.rollback"]))).all()]
    assert actions.count(("model.promote", True)) == 1 and ("model.rollback", True) in actions
    assert ("model.promote", False) in actions  # the refusals are audited too

    history = cli("model", "history", str(loop.config), "--json", timeout=120)
    assert history.returncode == 0, history.stderr
    rows = json.loads(history.stdout)["history"]
    assert [r["action"] for r in rows][:2] == ["rollback", "promote"]


def test_cli_promotion_and_the_admin_console(loop: Loop, page: Any, page_errors: list[str]) -> None:
    """``citywall model promote`` / ``rollback`` edit the same file and history (a running serve takes them at its
    next start); the console's section shows the card in service and the candidate's evaluation, in both
    languages, and its buttons switch the running model."""
    from tests.test_admin_browser import by_testid, confirm_dialog, open_admin

    card = loop.config / "models" / "goods-v1" / "goods-v1.yaml"
    evaluation = card.parent / "evaluation.json"
    wrong = cli("model", "promote", str(loop.config), "--card", str(DEFAULT_CARD), "--evaluation", str(evaluation),
                timeout=120)
    assert wrong.returncode == 1 and "evaluates" in wrong.stderr  # the evaluation is of another card
    done = cli("model", "promote", str(loop.config), "--card", str(card), "--evaluation", str(evaluation),
               timeout=120)
    assert done.returncode == 0, done.stderr
    assert "model: models/goods-v1/goods-v1.yaml" in (loop.config / "analytics.yaml").read_text(encoding="utf-8")
    back = cli("model", "rollback", str(loop.config), timeout=120)
    assert back.returncode == 0, back.stderr
    assert "model:" not in (loop.config / "analytics.yaml").read_text(encoding="utf-8")

    open_admin(page, loop.live, "models")
    current = by_testid(page, "model-current")
    current.wait_for(state="visible")
    assert "yolox-nano-coco-416" in current.inner_text()
    row = by_testid(page, "model-candidate", card="models/goods-v1/goods-v1.yaml")
    assert "召回率 " in row.inner_text() and "road_occupation" in row.inner_text()
    row.locator('[data-testid="model-promote"]').click()
    confirm_dialog(page)
    page.wait_for_function("() => document.querySelector('[data-testid=model-current]').textContent"
                           ".includes('goods-v1')", timeout=20000, polling=250)
    assert loop.live.app.state.services.runtime.analytics_counters().detector.model == "goods-v1"
    by_testid(page, "lang-switch").click()
    assert "recall" in by_testid(page, "model-score").first.inner_text()
    by_testid(page, "model-rollback").click()
    confirm_dialog(page)
    page.wait_for_function("() => document.querySelector('[data-testid=model-current]').textContent"
                           ".includes('yolox')", timeout=20000, polling=250)
    assert by_testid(page, "model-history-row").count() >= 4
    assert page_errors == []
