"""Case benchmark: how many cases per second the case desk commits — raised by the analytics and filed by
operators (视频巡查), on SQLite and PostgreSQL — and how long the statistics page's queries take over a
generated history of a million cases.

Why this exists: a raised case is committed (SQLite WAL, ``synchronous=FULL``: on disk before anyone is told)
with its evidence rows and history row, and only then pushed to the walls. A burst of events (a market street
at opening time, a camera's view knocked into a new scene) must not back up the analytics, and a hall of
operators filing from the wall must not wait on each other. The baseline, run in the same run on the same disk,
is the floor any durable design pays: one plain ``sqlite3`` INSERT + COMMIT per case with the same journal and
sync settings — so the ratio is citywall's bookkeeping (dedupe per place, evidence and history rows, ORM) over
a bare durable write. A filing does more than a raise: it is raised and confirmed in one transaction, with a
training label and the platform's outbox row.

The statistics (issue 13 item 6) must answer within a second at a million cases (``bench/history.py`` builds
the history and names the page's queries that are timed).

PostgreSQL is a throwaway server of this run's own (``bench.cluster.infra.Postgres``, on loopback) started with
``fsync=on``, so its commits are as durable as SQLite's.

Run from the repository root:  ``python -m bench.cases [--cases 300] [--stats-cases 1000000] [--no-postgres]
[--json PATH]``
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from sqlalchemy import func, select

from bench import history
from bench.case_load import CAMERAS, jpeg, p50_p99_ms, raised_changes
from bench.history import Timing, generate, time_reports
from bench.machine import describe, format_load, load_average, machine_label, rss_mb
from vision.catalogue import load_catalogue
from vision.replay import store_evidence
from wall.cases.desk import CaseDesk
from wall.cases.models import FiledCase
from wall.stats import queries
from wall.stats.models import Period, StatsQuery
from wall.store.db import Database, open_database
from wall.store.stats import RollupDay


@dataclass
class Rate:
    """``cases`` written one after the other, each its own durable commit."""

    database: str
    kind: str  # raised (CaseDesk.on_event) | filed (CaseDesk.file) | baseline (sqlite3 INSERT+COMMIT)
    cases: int
    per_s: float
    p50_ms: float
    p99_ms: float


@dataclass
class Generation:
    database: str
    cases: int
    events: int
    seconds: float


@dataclass
class RollupBuild:
    """The first report after the history was written: it builds the statistics' rollup for every past day and
    the months of those days (wall/stats/days.py), once; later reports read it."""

    database: str
    days: int
    seconds: float
    months: int = 0


@dataclass
class Report:
    machine: dict[str, object]
    load_before: list[float]  # os.getloadavg() when the run started: others' work on a shared machine
    rates: list[Rate] = field(default_factory=list)
    generations: list[Generation] = field(default_factory=list)
    rollup_builds: list[RollupBuild] = field(default_factory=list)
    statistics: list[Timing] = field(default_factory=list)
    load_after: list[float] = field(default_factory=list)
    rss_mb: float = 0.0


def _rate(database: str, kind: str, latencies: list[float]) -> Rate:
    return Rate(database, kind, len(latencies), len(latencies) / sum(latencies), *p50_p99_ms(latencies))


def _filing(evidence_dir: Path, n: int) -> FiledCase:
    """What the filing route hands the desk: the still (full resolution) and the clip are already on disk."""
    cam = CAMERAS[n % len(CAMERAS)]
    return FiledCase(
        camera_id=cam.id, user=f"op{n % 4}", code="0501", box=(400.0, 300.0, 620.0, 540.0),
        description="人行道上有流动摊贩", grid_code="320102001", street=cam.street, community=cam.community,
        address=cam.address, seen_at=datetime.now(UTC), seconds_ago=0.0,
        evidence={"snapshot": str(store_evidence(evidence_dir, jpeg(250_000), ".jpg")),
                  "clip": str(store_evidence(evidence_dir, jpeg(1_000_000), ".mp4"))},
        missing_evidence={}, webhook=True)


def _timed(calls: list[Callable[[], object]]) -> list[float]:
    latencies = []
    for call in calls:
        t0 = time.perf_counter()
        call()
        latencies.append(time.perf_counter() - t0)
    return latencies


def run_desk(work: Path, db: Database, database: str, cases: int) -> list[Rate]:
    """Raises, then filings, through one CaseDesk on ``db``; the evidence files are written beforehand (the
    analytics and the filing route write them, not the desk)."""
    desk = CaseDesk(db, CAMERAS, load_catalogue(), work / "evidence", reject_reasons=["other"])
    raised = _timed([partial(desk.on_event, c) for c in raised_changes(work / "evidence", cases)])
    filings = [_filing(work / "evidence", n) for n in range(cases)]
    filed = _timed([partial(desk.file, f) for f in filings])
    return [_rate(database, "raised", raised), _rate(database, "filed", filed)]


def run_baseline(work: Path, cases: int) -> Rate:
    conn = sqlite3.connect(work / "baseline.sqlite3")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE cases (id INTEGER PRIMARY KEY, event_id TEXT UNIQUE, camera TEXT, code TEXT, "
                 "place TEXT, raised REAL)")

    def insert(n: int) -> None:
        conn.execute("INSERT INTO cases (event_id, camera, code, place, raised) VALUES (?, ?, ?, ?, ?)",
                     (uuid.uuid4().hex, f"cam-{n % 8}", "0501", f"{n}-0", time.time()))
        conn.commit()

    latencies = _timed([partial(insert, n) for n in range(cases)])
    conn.close()
    return _rate("sqlite", "baseline", latencies)


def run_statistics(report: Report, db: Database, database: str, cases: int) -> None:
    made = generate(db.engine, cases)
    report.generations.append(Generation(database, made.cases, made.events, made.seconds))
    t0 = time.perf_counter()
    with db.session() as s:
        queries.report(s, StatsQuery(Period.MONTH, history.START, history.END, utc_offset=history.HALL,
                                     now=history.END))
        kinds = {length: n for length, n in s.execute(
            select(func.length(RollupDay.day), func.count()).group_by(func.length(RollupDay.day)))}
    report.rollup_builds.append(RollupBuild(database, kinds.get(len("YYYY-MM-DD"), 0), time.perf_counter() - t0,
                                            kinds.get(len("YYYY-MM"), 0)))
    report.statistics.extend(time_reports(db, database))


def run(cases: int, stats_cases: int, postgres: bool) -> Report:
    report = Report(machine=machine_label(), load_before=load_average())
    with tempfile.TemporaryDirectory(prefix="citywall-bench-cases-", dir=Path.cwd()) as tmp:
        work = Path(tmp)  # under the repository: the same disk a site's data directory would be on
        report.rates.append(run_baseline(work, cases))
        db = open_database(work / "desk")
        report.rates.extend(run_desk(work / "desk", db, "sqlite", cases))
        db.dispose()
        if stats_cases:
            db = open_database(work / "stats")
            run_statistics(report, db, "sqlite", stats_cases)
            db.dispose()
        if postgres:
            run_postgres(report, work, cases, stats_cases)
    report.rss_mb = rss_mb()
    report.load_after = load_average()
    return report


def run_postgres(report: Report, work: Path, cases: int, stats_cases: int) -> None:
    from bench.cluster.infra import Postgres

    pg = Postgres(fsync=True).start()  # durable commits, as SQLite's (the tests' server runs without)
    try:
        url = pg.database("desk")
        db = open_database(work / "pg-desk", url)
        report.rates.extend(run_desk(work / "pg-desk", db, "postgresql", cases))
        db.dispose()
        if stats_cases:
            db = open_database(work / "pg-stats", pg.database("stats"))
            run_statistics(report, db, "postgresql", stats_cases)
            db.dispose()
    finally:
        pg.stop()


def format_report(r: Report) -> str:
    m = r.machine
    lines = [
        f"{describe(m)}; load average at the start {format_load(r.load_before)}",
        "cases one after the other, each committed durably (SQLite WAL + synchronous=FULL; PostgreSQL fsync=on):",
    ]
    for rate in r.rates:
        lines.append(f"  {rate.database:<10} {rate.kind:<8} {rate.per_s:8.1f} cases/s   p50 {rate.p50_ms:7.2f} ms   "
                     f"p99 {rate.p99_ms:7.2f} ms   ({rate.cases})")
    for g in r.generations:
        lines.append(f"generated {g.cases} cases, {g.events} history rows into {g.database} in {g.seconds:.0f} s")
    for b in r.rollup_builds:
        lines.append(f"rollup of {b.days} days and {b.months} months built by the first year-long report on "
                     f"{b.database}: {b.seconds:.1f} s")
    if r.statistics:
        lines.append("statistics report (queries.report, 3 runs: first / median / max ms):")
    for t in r.statistics:
        lines.append(f"  {t.database:<10} {t.scenario:<50} {t.cases_in_range:>8} cases {t.rows:>6} rows  "
                     f"{t.runs_ms[0]:7.0f} / {t.median_ms:7.0f} / {max(t.runs_ms):7.0f}")
    lines.append(f"RSS {r.rss_mb:.0f} MiB; load average at the end {format_load(r.load_after)} "
                 "(this run itself keeps one core busy)")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cases", description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=300, help="cases raised, and as many filed, per database")
    parser.add_argument("--stats-cases", type=int, default=1_000_000, help="generated history (0: no statistics)")
    parser.add_argument("--no-postgres", dest="postgres", action="store_false")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    report = run(args.cases, args.stats_cases, args.postgres)
    print(format_report(report))
    if args.json:
        args.json.write_text(json.dumps(asdict(report), indent=2, ensure_ascii=False), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
