"""The user guides stay true: their links and anchors resolve, and the configuration, model card and scripts they
show are accepted by the real loaders.

Why: a guide is read when something has to work *now* (a hall display to set up, a model to put into service); a
YAML example that the loader refuses, or a link to a section that was renamed, costs an admin an hour. These checks
run the documents' own examples through ``wall.config.load_config`` and ``vision.card.parse_card`` — the code
``citywall serve`` uses — so a change of schema that the guides did not follow fails here.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from vision.card import DEFAULT_CARD, parse_card
from wall.config import load_config

ROOT = Path(__file__).resolve().parents[1]
GUIDES = ["README.md", "docs/operator-guide.md", "docs/admin-guide.md", "docs/models.md"]
FENCE = re.compile(r"```(\w*)\n(.*?)```", re.S)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped (CJK kept), spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = FENCE.sub("", path.read_text(encoding="utf-8"))
    return {slug(m.group(1)) for m in re.finditer(r"^#+ (.+)$", text, re.M)}


def blocks(path: str, language: str) -> list[str]:
    """The fenced blocks of one language, dedented (list items indent theirs)."""
    found = []
    for lang, body in FENCE.findall((ROOT / path).read_text(encoding="utf-8")):
        if lang == language:
            lines = body.splitlines()
            indent = min((len(x) - len(x.lstrip()) for x in lines if x.strip()), default=0)
            found.append("\n".join(x[indent:] for x in lines) + "\n")
    return found


def one_block(path: str, language: str, marker: str) -> str:
    matching = [b for b in blocks(path, language) if marker in b]
    assert len(matching) == 1, f"{path}: expected one {language} block with {marker!r}, found {len(matching)}"
    return matching[0]


@pytest.mark.parametrize("guide", GUIDES)
def test_links_and_anchors_resolve(guide: str) -> None:
    path = ROOT / guide
    text = FENCE.sub("", path.read_text(encoding="utf-8"))
    problems = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if target.startswith(("http://", "https://")):
            continue
        file_part, _, anchor = target.partition("#")
        dest = (path.parent / file_part).resolve() if file_part else path
        if not dest.exists():
            problems.append(f"{target}: no such file")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            problems.append(f"{target}: no heading with that anchor")
    assert not problems, f"{guide}: " + "; ".join(problems)


def test_slug_follows_github() -> None:
    """The anchor rule the link check relies on, on the guides' own kinds of heading."""
    assert slug("The hall display (大屏 kiosk)") == "the-hall-display-大屏-kiosk"
    assert slug("Tuning on recorded footage: `citywall replay`") == "tuning-on-recorded-footage-citywall-replay"
    assert slug("Analytics rules (analytics.yaml)") == "analytics-rules-analyticsyaml"


def test_admin_guide_configuration_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The admin guide's cameras.yaml, server.yaml parts and analytics.yaml, put together, make a valid site."""
    monkeypatch.setenv("CITYWALL_CAM_PASSWORD", "not-a-real-password")
    monkeypatch.setenv("PLATFORM_SECRET", "not-a-real-secret")
    monkeypatch.delenv("CITYWALL_DATA_DIR", raising=False)
    guide = "docs/admin-guide.md"
    (tmp_path / "cameras.yaml").write_text(one_block(guide, "yaml", "national_id:"), encoding="utf-8")
    server = "".join(one_block(guide, "yaml", marker) for marker in ("webhook_url:", "layouts:", "reject_reasons:"))
    (tmp_path / "server.yaml").write_text(server + f"server:\n  data_dir: {tmp_path / 'data'}\n", encoding="utf-8")
    (tmp_path / "analytics.yaml").write_text(one_block(guide, "yaml", "north-pavement"), encoding="utf-8")
    site = load_config(tmp_path)
    assert [c.id for c in site.cameras] == ["jiefang-rd-01"]
    assert site.cameras[0].national_id == "34020000001320000001"
    assert [w.name for w in site.server_file.walls] == ["hall", "district-a"]
    assert site.server_file.walls[0].tour is not None and site.server_file.walls[0].tour.group == "jiefang-road"
    assert site.layouts["2+8"].alarm_tile == 1 and site.layouts["2+8"].tile_count == 10
    assert site.analytics is not None
    zones = site.analytics.cameras["jiefang-rd-01"].zones
    assert [(z.id, z.family, z.code) for z in zones] == [
        ("north-pavement", "street_stall", "0501"), ("shop-front", "road_occupation", "0507"),
        ("bin-corner", "garbage", "0102")]
    assert "morning_market" in site.server_file.review.reject_reasons
    assert site.server_file.platform.secret == "not-a-real-secret"


def test_admin_guide_replay_rules_load(tmp_path: Path) -> None:
    """The lobby rules shown for `citywall replay` are a valid camera entry (the form of --camera-config)."""
    from settings.loading import load_model_file
    from vision.rules_config import CameraRules

    path = tmp_path / "lobby.yaml"
    path.write_text(one_block("docs/admin-guide.md", "yaml", "id: table"), encoding="utf-8")
    rules = load_model_file(path, CameraRules)
    assert rules.zones[0].dwell_seconds == 14 and rules.zones[0].confirm.hits == 3


def test_models_guide_card_is_valid() -> None:
    """The example card has every key right; its class names come from the export's metadata, so the families
    are checked against the graph only when a model is opened."""
    data = yaml.safe_load(one_block("docs/models.md", "yaml", "name: stall-garbage-v1"))
    card = parse_card(data, "docs/models.md")
    assert card.head == "yolov8" and card.classes == "metadata" and card.input_hw == (640, 640)
    assert card.families["garbage"] == ["garbage", "overflowing_bin"]
    fields = set(type(card).model_fields)
    documented = set(re.findall(r"^\| `(\w+)` \|", (ROOT / "docs/models.md").read_text(encoding="utf-8"), re.M))
    assert fields <= documented, f"card fields missing from the table: {sorted(fields - documented)}"


def test_models_guide_families_block_matches_the_shipped_cards() -> None:
    shown = yaml.safe_load(one_block("docs/models.md", "yaml", "street_stall: [umbrella"))["families"]
    for card in ("yolox_nano_coco_416.yaml", "yolov8n_coco_int8_640.yaml", "yolo11n_coco_int8_320.yaml"):
        assert yaml.safe_load((DEFAULT_CARD.with_name(card)).read_text(encoding="utf-8"))["families"] == shown, card


@pytest.mark.parametrize("guide", ["docs/admin-guide.md", "docs/models.md"])
def test_python_snippets_compile(guide: str) -> None:
    for i, source in enumerate(blocks(guide, "python")):
        compile(source, f"{guide} python block {i}", "exec")


def test_models_guide_scripts_work(tmp_path: Path) -> None:
    """prelabel.py turns a `citywall detect --json` report into YOLO labels; score_replay.py counts found, missed
    and false alarms — run on data shaped like the real outputs."""
    import json
    import subprocess
    import sys

    prelabel = tmp_path / "prelabel.py"
    prelabel.write_text(one_block("docs/models.md", "python", "FROM_COCO"), encoding="utf-8")
    frame = tmp_path / "f.jpg"
    frame.write_bytes(b"jpeg")
    report = {"model": "m", "images": [{"image": str(frame), "width": 800, "height": 400, "detections": [
        {"class": "person", "class_id": 0, "score": 0.9, "box": [100.0, 100.0, 300.0, 300.0]},
        {"class": "tv", "class_id": 62, "score": 0.9, "box": [0.0, 0.0, 10.0, 10.0]}]}]}
    (tmp_path / "pre.json").write_text(json.dumps(report), encoding="utf-8")
    subprocess.run([sys.executable, str(prelabel), str(tmp_path / "pre.json"), str(tmp_path / "ds")], check=True)
    labels = list((tmp_path / "ds" / "labels").rglob("f.txt"))
    assert len(labels) == 1
    assert labels[0].read_text().split() == ["0", "0.250000", "0.500000", "0.250000", "0.500000"]

    score = tmp_path / "score_replay.py"
    score.write_text(one_block("docs/models.md", "python", "false_alarms"), encoding="utf-8")
    (tmp_path / "truth.csv").write_text("zone,start,end\ntable,24,48\ntable,100,120\n", encoding="utf-8")
    events = [{"kind": "opened", "zone": "table", "t": 38.0, "place": "7-6"},
              {"kind": "cleared", "zone": "table", "t": 48.0, "place": "7-6"},
              {"kind": "opened", "zone": "table", "t": 70.0, "place": "2-3"}]
    (tmp_path / "run.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")
    out = subprocess.run([sys.executable, str(score), str(tmp_path / "truth.csv"), str(tmp_path / "run.jsonl")],
                         check=True, capture_output=True, text=True).stdout
    assert out.splitlines() == ["found 1 of 2, missed 1, false alarms 1", "  false alarm at 70s zone=table place=2-3"]
