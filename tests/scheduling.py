"""How the suite's files are spread over the xdist workers: the longest files first, the Ray cluster files in two
scopes (at most two clusters at once), and each run's per-file times written down for the next ordering.

Why: ``--dist loadfile`` sends whole files to workers in collection order (by number of tests), so a file that
takes minutes but has few tests started last and the run waited on it alone; and three Ray clusters starting at
once on two cores made cluster tests miss their deadlines. Ordering by measured time (longest-processing-time
first) lets the workers finish together; two scopes for the Ray files keep at most two clusters starting at once.

``tests/durations.json`` holds seconds per file from a run on the project's 2-core machine. A run with
``CITYWALL_ARTIFACTS`` set writes this run's figures to ``$CITYWALL_ARTIFACTS/test-durations.json``; copy that
file over tests/durations.json when the suite's shape changes. A file missing from it (a new one) counts as
long as the table's 80th percentile, so that it starts early rather than alone at the end; a stale table only
costs balance, never a test.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from pathlib import Path

import pytest
from xdist.scheduler import LoadScopeScheduling

DURATIONS = Path(__file__).with_name("durations.json")
# Files that start a Ray cluster, in two scopes: at most two clusters run at once on the two cores (three at once
# made them miss their deadlines), and neither scope alone sets the suite's length. A scope's files run on one
# worker one after another, so those on tests/cluster_helpers.py's shared cluster (``ray_module_cluster``) start it
# once between them: ray-b's three do; ray-a's deploy and GPU files start clusters of their own shapes.
# A new file that starts a Ray cluster belongs in one of them. Balanced by tests/durations.json (2026-12-04, quiet:
# ray-a 311 + 124 + 70 s, ray-b 172 + 35 s + the new recording file).
RAY_SCOPES = {
    "tests/test_cluster_failures.py": "ray-a", "tests/test_deploy_cluster.py": "ray-a",
    "tests/test_cluster_detector.py": "ray-a",
    "tests/test_cluster.py": "ray-b", "tests/test_rendition_cluster.py": "ray-b",
    "tests/test_recording_cluster.py": "ray-b",
}


def file_of(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


def scope_of(nodeid: str) -> str:
    path = file_of(nodeid)
    return RAY_SCOPES.get(path, path)


def known_durations() -> dict[str, float]:
    try:
        table = json.loads(DURATIONS.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k): float(v) for k, v in table.items()} if isinstance(table, dict) else {}


def order_items(items: list[pytest.Item]) -> None:
    """Longest scope first, each file's tests in their own order (a stable sort): xdist hands scopes out in
    the order it first sees them. The same on every worker, so their collections agree."""
    seconds = known_durations()
    ranked = sorted(seconds.values())
    unknown = ranked[int(0.8 * (len(ranked) - 1))] if ranked else 0.0
    weight: dict[str, float] = defaultdict(float)
    for path in {file_of(item.nodeid) for item in items}:
        weight[scope_of(path)] += seconds.get(path, unknown)
    first_seen = {scope: i for i, scope in reversed(list(enumerate(scope_of(item.nodeid) for item in items)))}
    items.sort(key=lambda item: (-weight[scope_of(item.nodeid)], first_seen[scope_of(item.nodeid)]))


class DurationScheduling(LoadScopeScheduling):
    """``--dist loadfile``, except that the Ray files form two scopes (RAY_SCOPES)."""

    def _split_scope(self, nodeid: str) -> str:
        return scope_of(nodeid)


class DurationLog:
    """Adds up each file's setup, call and teardown seconds as reports arrive (on the controller: the workers'
    reports come there too) and writes them at the end of the run."""

    def __init__(self, target: Path) -> None:
        self.target = target
        self.seconds: dict[str, float] = defaultdict(float)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.seconds[file_of(report.nodeid)] += report.duration

    def pytest_sessionfinish(self) -> None:
        table = {path: round(value, 1) for path, value in sorted(self.seconds.items(), key=lambda kv: -kv[1])}
        self.target.parent.mkdir(parents=True, exist_ok=True)
        self.target.write_text(json.dumps(table, indent=1) + "\n", encoding="utf-8")


def configure(config: pytest.Config) -> None:
    """Register the duration log on the process that sees every report (the controller, or the only process)."""
    artifacts = os.environ.get("CITYWALL_ARTIFACTS")
    if artifacts and not hasattr(config, "workerinput"):
        config.pluginmanager.register(DurationLog(Path(artifacts) / "test-durations.json"), "citywall-durations")
