"""The benchmarks stay runnable: each parses its options, and the cheap one runs end to end (no timing asserted:
speed is reported by the benchmarks, never tested)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import REPO

BENCHMARKS = ("ingest", "analytics", "wall", "cases", "cluster")


@pytest.mark.parametrize("name", BENCHMARKS)
def test_benchmark_options_parse(name: str) -> None:
    out = subprocess.run([sys.executable, "-m", f"bench.{name}", "--help"], cwd=REPO, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert "usage:" in out.stdout


def test_python_m_bench_lists_every_benchmark() -> None:
    out = subprocess.run([sys.executable, "-m", "bench", "--help"], cwd=REPO, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    for name in BENCHMARKS:
        assert name in out.stdout


def test_case_benchmark_runs_and_reports_its_baseline(tmp_path) -> None:
    out = subprocess.run([sys.executable, "-m", "bench.cases", "--cases", "20", "--json", str(tmp_path / "r.json")],
                         cwd=REPO, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "cases/s" in out.stdout and "baseline sqlite3" in out.stdout and "machine:" in out.stdout
    assert (tmp_path / "r.json").read_text().count("citywall_per_s") == 1
