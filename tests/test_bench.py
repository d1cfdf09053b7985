"""The benchmarks stay runnable: each parses its options, and the cheap one runs end to end (no timing asserted:
speed is reported by the benchmarks, never tested)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO

BENCHMARKS = ("ingest", "analytics", "wall", "rendition", "recording", "playback", "cases", "platform", "cluster")


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
    """Raises and filings on both stores with the baseline beside them, and the statistics over a small
    generated history (the million-case default is for the benchmark, not the suite)."""
    out = subprocess.run([sys.executable, "-m", "bench.cases", "--cases", "20", "--stats-cases", "3000",
                          "--json", str(tmp_path / "r.json")],
                         cwd=REPO, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "cases/s" in out.stdout and "machine:" in out.stdout
    report = json.loads((tmp_path / "r.json").read_text())
    rates = {(r["database"], r["kind"]): r for r in report["rates"]}
    assert set(rates) == {("sqlite", "baseline"), ("sqlite", "raised"), ("sqlite", "filed"),
                          ("postgresql", "raised"), ("postgresql", "filed")}
    assert all(r["cases"] == 20 and r["per_s"] > 0 for r in rates.values())
    assert [g["cases"] for g in report["generations"]] == [3000, 3000]
    assert {s["database"] for s in report["statistics"]} == {"sqlite", "postgresql"}
    every_case = [s for s in report["statistics"] if "every case" in s["scenario"]]
    assert [s["cases_in_range"] for s in every_case] == [3000, 3000]  # the year-long report reads them all
