"""``citywall replay`` runs a clip as the site's camera would (issue 15 item 8): the camera's look interval and
analysis_max_interval, the site's own event catalogue, and schedules judged by the clip's recording time
(``--start-time``, else the file's creation_time, else now — and it says which)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from vision.card import DEFAULT_CARD
from vision.catalogue import DEFAULT_CATALOGUE, load_catalogue
from vision.detector import Detector
from vision.replay import Replay, recorded_at
from vision.rules_config import CameraRules
from wall.demo import MEDIA

pytestmark = pytest.mark.slow
PERSON = MEDIA / "one-by-one-person-detection.mp4"
ZONE = {"id": "table", "name": "站台桌", "family": "street_stall", "code": "0501", "require_object": False,
        "polygon": [[0.40, 0.70], [0.80, 0.70], [0.80, 1.0], [0.40, 1.0]], "dwell_seconds": 14,
        "grace_seconds": 4, "clear_after_seconds": 6, "alarm_interval_seconds": 5,
        "confirm": {"hits": 3, "looks": 4}, "schedule": [{"start": "08:00", "end": "09:00"}]}


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The lobby clip's first 75 s (two long visits), stamped as recorded on 2026-11-23 at 08:30 UTC."""
    out = tmp_path_factory.mktemp("replay-site") / "lobby.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(PERSON), "-t", "75", "-c", "copy", "-an",
                    "-metadata", "creation_time=2026-11-23T08:30:00Z", str(out)], check=True, timeout=60)
    return out


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, clip: Path) -> Path:
    root = tmp_path_factory.mktemp("site")
    (root / "cameras.yaml").write_text(
        f"cameras:\n  - {{id: lobby, name: 大厅, url: 'file:{clip}', analysis_interval: 3}}\n", encoding="utf-8")
    (root / "analytics.yaml").write_text(yaml.safe_dump({"cameras": {"lobby": {"zones": [ZONE]}}},
                                                        allow_unicode=True), encoding="utf-8")
    catalogue = yaml.safe_load(DEFAULT_CATALOGUE.read_text(encoding="utf-8"))
    catalogue["version"] = "site-test-1"
    catalogue["codes"]["0501"]["name"] = "测试游商"
    (root / "event_codes.yaml").write_text(yaml.safe_dump(catalogue, allow_unicode=True), encoding="utf-8")
    return root


def replay(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "wall.cli", "replay", *args], capture_output=True, text=True,
                          timeout=300, check=False, env={**os.environ, "TZ": "UTC"})


def test_replay_takes_the_cameras_interval_catalogue_and_the_files_recording_time(clip: Path, site: Path) -> None:
    assert recorded_at(clip) == pytest.approx(1_795_422_600.0)  # 2026-11-23T08:30:00Z
    result = replay(str(clip), "--config", str(site), "--camera", "lobby", "--json")
    assert result.returncode == 0, result.stderr
    assert "2026-11-23T08:30:00 (the file's creation_time); looks every 3 s" in result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    opened = [e for e in events if e["kind"] == "opened"]
    assert opened, events  # 08:30 is inside the zone's 08:00–09:00 schedule
    assert {(e["camera"], e["code_name"], e["catalogue_version"]) for e in opened} == {
        ("lobby", "测试游商", "site-test-1")}  # the site's catalogue, not the bundled one
    assert all(e["t"] % 3 == 0 for e in events), [e["t"] for e in events]  # looks every 3 s, the camera's

    later = replay(str(clip), "--config", str(site), "--camera", "lobby", "--json", "--start-time",
                   "2026-11-23T12:00")
    assert later.returncode == 0, later.stderr
    assert "2026-11-23T12:00:00 (--start-time)" in later.stderr
    assert later.stdout == ""  # recorded at noon: outside the schedule, nothing opens

    bare = site.parent / "bare.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(clip), "-t", "5", "-c", "copy",
                    "-map_metadata", "-1", str(bare)], check=True, timeout=60)
    assert recorded_at(bare) is None
    now = replay(str(bare), "--config", str(site), "--camera", "lobby")
    assert now.returncode == 0 and "(now: the file has no creation_time)" in now.stderr


def test_replay_refuses_what_it_cannot_run(clip: Path, site: Path, tmp_path: Path) -> None:
    unknown = replay(str(clip), "--config", str(site), "--camera", "gate")
    assert unknown.returncode == 2 and "no analysed camera 'gate'" in unknown.stderr
    rules = tmp_path / "rules.yaml"
    shutil.copy(site / "analytics.yaml", rules)
    both = replay(str(clip), "--config", str(site), "--camera", "lobby", "--camera-config", str(rules))
    assert both.returncode == 2 and "either --camera-config FILE or --config DIR --camera ID" in both.stderr


def test_max_interval_snaps_looks_to_keyframes(clip: Path) -> None:
    """The lobby clip has a keyframe every second: looks every 0.5 s decode between keyframes; with an
    analysis_max_interval of 1 s they snap to the keyframes, one per GOP, as the live sampler does."""
    detector = Detector(DEFAULT_CARD)
    rules = CameraRules.model_validate({"zones": [ZONE]})

    def looks(**kw: float) -> int:
        run = Replay(clip, rules, detector, detector.card.families, load_catalogue(), **kw)
        list(run.run())
        return run.looks

    half, snapped = looks(interval=0.5), looks(interval=0.5, max_interval=1.0)
    assert half == pytest.approx(150, abs=3) and snapped == pytest.approx(75, abs=3)
