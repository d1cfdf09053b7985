"""A generated case history for the statistics benchmark — N cases over a year, with the history rows a real
hall writes (raised, decided, dispatched, still present, cleared on video, closed), inserted in bulk — and the
statistics page's queries timed on it.

Why generated and not raised through the desk: a million cases through ``CaseDesk`` at a durable commit each
would take hours, and the statistics read only what the desk leaves in the tables. The rows here have the
desk's shape and realistic widths (description, boxes, address), so a scan reads as many pages as it would on a
site, and the mix of outcomes (a quarter rejected, most confirmed cases dispatched, most of those cleared on
video) gives every figure of the page work to do. ``cases.cleared_at`` is left to the database's trigger, which
fills it as the history rows go in (migration 0007) — the same path a live site takes.

SQLite gets ``executemany`` in one transaction; PostgreSQL gets ``COPY … FROM STDIN``.
"""

from __future__ import annotations

import json
import random
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, text

from wall.stats.models import GroupBy, Period, StatsQuery
from wall.stats.queries import report
from wall.store.db import Database

START = datetime(2026, 1, 1, tzinfo=UTC)
DAYS = 365
CAMERAS = 200  # 10 per street, 2 per community
CODES = [("0501", "无照经营游商"), ("0502", "店外经营"), ("0503", "占道经营"), ("0601", "暴露垃圾"),
         ("0602", "垃圾满溢"), ("0701", "乱堆物料"), ("0801", "非机动车乱停放"), ("0802", "机动车乱停放"),
         ("0901", "乱张贴"), ("1001", "道路破损")]
REASONS = ["vendor_walking", "shadow", "authorised", "other"]
CASE_COLUMNS = ("id", "event_id", "status", "source", "camera_id", "camera_name", "national_id", "zone_id",
                "family", "place", "place_box", "code", "code_name", "catalogue_version", "grid_code", "street",
                "community", "address", "lon", "lat", "description", "boxes", "first_seen", "last_seen",
                "raised_at", "updated_at", "decided_by", "decided_at", "note", "reject_reason", "merged_into",
                "dispatched_at", "verified_at", "closed_at")
EVENT_COLUMNS = ("case_id", "at", "actor", "action", "before", "after", "detail")
BATCH = 20_000


@dataclass
class Generated:
    cases: int
    events: int
    seconds: float


def _case(rng: random.Random, n: int, cases: int) -> tuple[dict[str, Any], list[tuple[Any, ...]]]:
    """Case ``n`` (id n + 1) and its history rows; the outcome drawn with the mix of a busy hall. Ids follow the
    raise times, as on a site (a case is inserted when it is raised), so a range of days is a range of rows."""
    cid = n + 1
    cam = rng.randrange(CAMERAS)
    code, code_name = CODES[rng.randrange(len(CODES))]
    raised = START + timedelta(seconds=(n + rng.random()) * DAYS * 86400 / cases)
    patrol = rng.random() < 0.15
    row: dict[str, Any] = {
        "id": cid, "event_id": f"bench-{cid:08d}", "status": "pending_review", "source": "patrol" if patrol else "ai",
        "camera_id": f"cam-{cam:03d}", "camera_name": f"解放路 {cam} 号杆", "national_id": f"3201020000132{cam:07d}",
        "zone_id": "pavement", "family": "street_stall", "place": f"{cam}-{n % 7}",
        "place_box": json.dumps([0.21, 0.33, 0.28, 0.46]), "code": code, "code_name": code_name,
        "catalogue_version": "2024-01", "grid_code": f"32010200{cam:04d}", "street": f"街道 {cam // 10}",
        "community": f"社区 {cam // 2}", "address": f"解放路 {cam} 号门前人行道", "lon": 118.79 + cam / 1e4,
        "lat": 32.06, "description": f"{code_name}（pavement），持续 {rng.randrange(60, 900)} 秒",
        "boxes": json.dumps([{"label": "umbrella", "score": 0.81, "box": [0.21, 0.33, 0.28, 0.46], "track": n}]),
        "first_seen": raised - timedelta(seconds=200), "last_seen": raised, "raised_at": raised,
        "updated_at": raised, "decided_by": None, "decided_at": None, "note": None, "reject_reason": None,
        "merged_into": None, "dispatched_at": None, "verified_at": None, "closed_at": None,
    }
    actor = "patrol-op" if patrol else "vision"
    events: list[tuple[Any, ...]] = [(cid, raised, actor, "raised", None, "pending_review", "{}")]

    def step(at: datetime, who: str, action: str, after: str) -> None:
        events.append((cid, at, who, action, row["status"], after, "{}"))
        row["status"], row["updated_at"] = after, at

    draw = rng.random()
    if not patrol and draw < 0.03:
        return row, events  # still awaiting review
    decided = raised + timedelta(seconds=rng.uniform(5, 60) if patrol else rng.expovariate(1 / 240))
    row["decided_by"], row["decided_at"] = "op", decided
    if not patrol and draw < 0.28:
        row["reject_reason"] = REASONS[rng.randrange(len(REASONS))]
        step(decided, "op", "reject", "rejected")
        return row, events
    if not patrol and draw < 0.33 and n > 0:
        row["merged_into"] = rng.randrange(1, cid)
        step(decided, "op", "merge", "closed")
        return row, events
    step(decided, "op", "confirm", "confirmed")
    if rng.random() < 0.15:
        return row, events  # confirmed, not dispatched yet
    dispatched = decided + timedelta(seconds=rng.uniform(30, 600))
    row["dispatched_at"] = dispatched
    step(dispatched, "platform", "dispatch", "dispatched")
    at = dispatched
    if rng.random() < 0.2:
        at += timedelta(seconds=rng.uniform(600, 3600))
        row["verified_at"] = at
        step(at, "vision", "still_present", "still_present")
    if rng.random() < 0.75:
        at += timedelta(seconds=rng.expovariate(1 / 1800))
        row["verified_at"] = at
        step(at, "vision", "cleared_on_video", "cleared_on_video")
        if rng.random() < 0.8:
            row["closed_at"] = at + timedelta(seconds=rng.uniform(60, 3600))
            step(row["closed_at"], "platform", "close", "closed")
    return row, events


def _batches(cases: int, seed: int) -> Iterator[tuple[list[dict[str, Any]], list[tuple[Any, ...]]]]:
    rng = random.Random(seed)
    rows: list[dict[str, Any]] = []
    events: list[tuple[Any, ...]] = []
    for n in range(cases):
        row, history = _case(rng, n, cases)
        rows.append(row)
        events.extend(history)
        if len(rows) == BATCH:
            yield rows, events
            rows, events = [], []
    if rows:
        yield rows, events


def _sqlite_time(value: Any) -> Any:
    """SQLAlchemy's own SQLite storage of a DateTime (naive UTC text), so the ORM reads these rows as its own."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    return value


def generate(engine: Engine, cases: int, seed: int = 13) -> Generated:
    """Insert ``cases`` generated cases with their history into a migrated, empty citywall database."""
    t0 = time.perf_counter()
    events = 0
    case_list, event_list = ", ".join(CASE_COLUMNS), ", ".join(EVENT_COLUMNS)
    raw = engine.raw_connection()
    try:
        cursor: Any = raw.cursor()
        postgres = engine.dialect.name == "postgresql"
        for rows, history in _batches(cases, seed):
            events += len(history)
            if postgres:
                with cursor.copy(f"COPY cases ({case_list}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row([row[c] for c in CASE_COLUMNS])
                with cursor.copy(f"COPY case_events ({event_list}) FROM STDIN") as copy:
                    for entry in history:
                        copy.write_row(entry)
            else:
                cursor.executemany(f"INSERT INTO cases ({case_list}) VALUES ({', '.join('?' * len(CASE_COLUMNS))})",
                                   [[_sqlite_time(row[c]) for c in CASE_COLUMNS] for row in rows])
                cursor.executemany(f"INSERT INTO case_events ({event_list}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                                   [[_sqlite_time(v) for v in entry] for entry in history])
        raw.commit()
    finally:
        raw.close()
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":  # ids were given: the sequences go on after them
            for table in ("cases", "case_events"):
                conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                  f"(SELECT max(id) FROM {table}))"))
            conn.execute(text("ANALYZE cases"))
            conn.execute(text("ANALYZE case_events"))
        else:
            conn.execute(text("ANALYZE"))
    return Generated(cases=cases, events=events, seconds=time.perf_counter() - t0)


# -- the statistics page on that history ----------------------------------------------------------------------

HALL = 480  # the hall's clock, +08:00
END = START + timedelta(days=DAYS)
GRANTED = frozenset(f"cam-{i:03d}" for i in range(0, CAMERAS, 10))  # an operator's 20 cameras, one per street


@dataclass(frozen=True)
class Scenario:
    name: str
    query: StatsQuery


def scenarios() -> list[Scenario]:
    """What the page asks: its defaults (30 days, 12 weeks, 12 months before now; now = the history's end),
    grouped the ways a supervisor looks, and as an operator who sees 20 of the 200 cameras."""
    days30, weeks12 = END - timedelta(days=30), END - timedelta(weeks=12)
    return [
        Scenario("30 days per day (the page's default)", StatsQuery(Period.DAY, days30, END, utc_offset=HALL, now=END)),
        Scenario("30 days per day and camera",
                 StatsQuery(Period.DAY, days30, END, GroupBy.CAMERA, utc_offset=HALL, now=END)),
        Scenario("30 days per day and street, 20 cameras granted",
                 StatsQuery(Period.DAY, days30, END, GroupBy.STREET, GRANTED, HALL, now=END)),
        Scenario("12 weeks per week and street",
                 StatsQuery(Period.WEEK, weeks12, END, GroupBy.STREET, utc_offset=HALL, now=END)),
        Scenario("12 months per month and camera (every case)",
                 StatsQuery(Period.MONTH, START, END, GroupBy.CAMERA, utc_offset=HALL, now=END)),
    ]


@dataclass
class Timing:
    database: str
    scenario: str
    cases_in_range: int
    rows: int
    runs_ms: list[float]

    @property
    def median_ms(self) -> float:
        return statistics.median(self.runs_ms)


def time_reports(db: Database, database: str, runs: int = 3) -> list[Timing]:
    """Each scenario's ``queries.report`` (every statement and the assembly of the answer, not HTTP) ``runs``
    times in a fresh session each; the first run reads the pages from disk or cache as a first visitor would."""
    out: list[Timing] = []
    for scenario in scenarios():
        times: list[float] = []
        for _ in range(runs):
            with db.session() as s:
                t0 = time.perf_counter()
                figures = report(s, scenario.query)
                times.append((time.perf_counter() - t0) * 1000)
        out.append(Timing(database, scenario.name, figures.total.raised, len(figures.rows), times))
    return out
