"""bench.playback stays runnable (tests/test_bench.py's rule: each benchmark parses its options, and a cheap run
goes end to end; no timing asserted, speed is reported by the benchmark, never tested). The short run records
a small camera with the real app for a few seconds and seeks once of each kind in Debian chromium."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO


def test_playback_benchmark_options_parse() -> None:
    out = subprocess.run([sys.executable, "-m", "bench.playback", "--help"], cwd=REPO, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "usage:" in out.stdout and "--seeks" in out.stdout


@pytest.mark.browser
@pytest.mark.slow
def test_playback_benchmark_runs_and_reports_its_baseline(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "bench.playback", "--record-seconds", "8", "--segment", "3",
                          "--seeks", "1", "--width", "320", "--height", "180", "--json", str(tmp_path / "r.json")],
                         cwd=REPO, capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "machine:" in out.stdout and "÷ buffered" in out.stdout
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["segments"] >= 2
    assert {kind: len(ms) for kind, ms in report["seek_ms"].items()} == {
        "buffered": 1, "same segment": 1, "other segment": 1}
    assert all(v > 0 for ms in report["seek_ms"].values() for v in ms)
