"""Case raise benchmark: how many raised cases per second the case desk commits, durably, and at what latency.

Why this exists: a raised case is committed (SQLite WAL, ``synchronous=FULL``: on disk before anyone is told)
with its evidence rows and history row, and only then pushed to the walls. A burst of events (a market street
at opening time, a camera's view knocked into a new scene) must not back up the analytics. The baseline, run
in the same run on the same disk, is the floor any durable design pays: one plain ``sqlite3`` INSERT + COMMIT
per case with the same journal and sync settings — so the ratio is citywall's bookkeeping (dedupe per place,
evidence and history rows, ORM) over a bare durable write.

Run from the repository root:  ``python -m bench.cases [--cases 300] [--json PATH]``
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.machine import machine_label, rss_mb
from streams.config import CameraConfig
from vision.catalogue import load_catalogue
from vision.events import Box, EventChange
from vision.replay import store_evidence
from wall.cases.desk import CaseDesk
from wall.store.db import open_database


@dataclass
class Report:
    machine: dict[str, object]
    cases: int
    citywall_per_s: float
    citywall_p50_ms: float
    citywall_p99_ms: float
    baseline_per_s: float
    baseline_p50_ms: float
    rss_mb: float


def _change(evidence_dir: Path, n: int) -> EventChange:
    t = 1_800_000_000.0 + n
    change = EventChange(
        kind="opened", event_id=uuid.uuid4().hex, camera_id=f"cam-{n % 8}", zone_id="pavement",
        family="street_stall", code="0501", code_name="无照经营游商", catalogue_version="bench", place=f"{n}-0",
        place_box=(100.0, 120.0, 180.0, 220.0), frame_size=(640, 360), first_seen=t - 200, t=t, t_stream=0.0,
        dwell=200.0, boxes=[Box("umbrella", 0.8, (100.0, 120.0, 180.0, 220.0), 7)],
    )
    jpeg = b"\xff\xd8" + uuid.uuid4().bytes * 2000 + b"\xff\xd9"  # ~32 kB, like a 640 px snapshot
    change.evidence["snapshot"] = str(store_evidence(evidence_dir, jpeg, ".jpg"))
    return change


def run_citywall(work: Path, cases: int) -> list[float]:
    db = open_database(work / "citywall")
    cameras = [CameraConfig(id=f"cam-{i}", name=f"路口 {i}", url="rtsp://192.0.2.1/x") for i in range(8)]
    desk = CaseDesk(db, cameras, load_catalogue(), work / "evidence", reject_reasons=["other"])
    changes = [_change(work / "evidence", n) for n in range(cases)]  # evidence is written by the analytics
    latencies = []
    for change in changes:
        t0 = time.perf_counter()
        desk.on_event(change)
        latencies.append(time.perf_counter() - t0)
    db.dispose()
    return latencies


def run_baseline(work: Path, cases: int) -> list[float]:
    conn = sqlite3.connect(work / "baseline.sqlite3")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE cases (id INTEGER PRIMARY KEY, event_id TEXT UNIQUE, camera TEXT, code TEXT, "
                 "place TEXT, raised REAL)")
    latencies = []
    for n in range(cases):
        t0 = time.perf_counter()
        conn.execute("INSERT INTO cases (event_id, camera, code, place, raised) VALUES (?, ?, ?, ?, ?)",
                     (uuid.uuid4().hex, f"cam-{n % 8}", "0501", f"{n}-0", time.time()))
        conn.commit()
        latencies.append(time.perf_counter() - t0)
    conn.close()
    return latencies


def run(cases: int) -> Report:
    with tempfile.TemporaryDirectory(prefix="citywall-bench-cases-", dir=Path.cwd()) as tmp:
        work = Path(tmp)  # under the repository: the same disk a site's data directory would be on
        base = run_baseline(work, cases)
        ours = run_citywall(work, cases)
    p = sorted(ours)
    return Report(
        machine=machine_label(), cases=cases, citywall_per_s=cases / sum(ours),
        citywall_p50_ms=statistics.median(ours) * 1000, citywall_p99_ms=p[int(len(p) * 0.99) - 1] * 1000,
        baseline_per_s=cases / sum(base), baseline_p50_ms=statistics.median(base) * 1000, rss_mb=rss_mb(),
    )


def format_report(r: Report) -> str:
    m = r.machine
    return "\n".join([
        f"machine: {m['cpu_model']}, {m['usable_cores']} usable cores, {m['system']}, Python {m['python']}",
        f"{r.cases} cases raised one after the other, each committed durably (WAL, synchronous=FULL):",
        f"  citywall CaseDesk.on_event: {r.citywall_per_s:7.1f} cases/s, p50 {r.citywall_p50_ms:.2f} ms, "
        f"p99 {r.citywall_p99_ms:.2f} ms",
        f"  baseline sqlite3 INSERT+COMMIT: {r.baseline_per_s:7.1f} /s, p50 {r.baseline_p50_ms:.2f} ms",
        f"  ratio baseline / citywall time per case: ×{r.baseline_per_s / r.citywall_per_s:.1f} "
        f"(citywall's bookkeeping over a bare durable write); RSS {r.rss_mb:.0f} MiB",
    ])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cases", description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=300)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    report = run(args.cases)
    print(format_report(report))
    if args.json:
        args.json.write_text(json.dumps(asdict(report), indent=2, ensure_ascii=False), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
