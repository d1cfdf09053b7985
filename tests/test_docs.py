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


def test_models_guide_learning_commands_exist() -> None:
    """Every ``citywall train | evaluate | model …`` command of the models guide names options the command has
    (the loop itself runs in tests/test_learning_loop.py)."""
    import subprocess
    import sys

    commands = [" ".join(b.replace("\\\n", " ").split()) for b in blocks("docs/models.md", "bash")]
    lines = [line for b in commands for line in b.split(" citywall ")
             if re.match(r"(citywall )?(train|evaluate|model (promote|rollback|history)) ", line)]
    assert len(lines) >= 2, lines  # train and evaluate
    for line in lines:
        words = line.removeprefix("citywall ").split()
        sub = words[:2] if words[0] == "model" else words[:1]
        helptext = subprocess.run([sys.executable, "-m", "wall.cli", *sub, "--help"], capture_output=True,
                                  text=True, check=True, timeout=60).stdout
        for option in (w for w in words if w.startswith("--")):
            assert option in helptext, f"docs/models.md: citywall {' '.join(sub)} has no {option}"
