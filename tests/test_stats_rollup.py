"""The statistics' daily rollup (wall/stats/rollup.py) gives exactly the figures of the straight statements
(wall/stats/raw.py): on randomised histories (hypothesis) — sub-second durations, deadlines met, missed and
still open, every grouping, a user's cameras, hall clocks with odd offsets, ranges cut mid-day — on a real
SQLite database with the migration's trigger, before and after cases change under a built rollup; and once on
PostgreSQL. The rollup must actually be read (days built), and a change to a case must mark its day stale.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, func, insert, select, update

from wall.stats.models import GroupBy, Period, StatsQuery
from wall.stats.queries import raw_report, report
from wall.store.cases import Case
from wall.store.db import Database, open_database
from wall.store.stats import RollupDay, RollupReason, RollupRow

START = datetime(2026, 3, 1, tzinfo=UTC)
CAMERAS = ["cam-a", "cam-b", "cam-c", "cam-d"]
CODES = [("0501", "无照经营游商"), ("0601", "暴露垃圾"), ("0601", "暴露垃圾（旧）")]
STREETS = [None, "解放路街道", "人民路街道"]
OUTCOMES = ["pending", "rejected", "merged", "confirmed", "dispatched", "still_present", "cleared", "closed"]


def _seconds(value: float) -> timedelta:
    return timedelta(microseconds=round(value * 1e6))


@st.composite
def case_rows(draw: Any) -> dict[str, Any]:
    """One case as the desk leaves it, with every time to the microsecond."""
    camera = draw(st.sampled_from(CAMERAS))
    code, code_name = draw(st.sampled_from(CODES))
    raised = START + _seconds(draw(st.floats(0, 12 * 86400)))
    outcome = draw(st.sampled_from(OUTCOMES))
    row: dict[str, Any] = {
        "camera_id": camera, "camera_name": f"{camera} {draw(st.sampled_from(['甲', '乙']))}", "code": code,
        "code_name": code_name, "street": draw(st.sampled_from(STREETS)), "community": draw(st.sampled_from(STREETS)),
        "source": draw(st.sampled_from(["ai", "patrol"])), "raised_at": raised, "status": "pending_review",
        "decided_at": None, "reject_reason": None, "merged": False, "dispatched_at": None, "cleared_at": None,
        "closed_at": None, "deadline_at": None}
    if outcome == "pending":
        return row
    at = raised + _seconds(draw(st.floats(0.001, 5000)))
    row["decided_at"] = at
    if outcome == "rejected":
        row.update(status="rejected", reject_reason=draw(st.sampled_from(["shadow", "other"])))
        return row
    if outcome == "merged":
        row.update(status="closed", merged=True)
        return row
    row["status"] = "confirmed"
    if outcome == "confirmed":
        return row
    at += _seconds(draw(st.floats(1, 600)))
    row.update(status="dispatched", dispatched_at=at)
    if draw(st.booleans()):
        row["deadline_at"] = at + _seconds(draw(st.floats(60, 86400 * 3)))
    if outcome == "still_present":
        row["status"] = "still_present"
    if outcome in ("cleared", "closed"):
        row.update(status="cleared_on_video", cleared_at=at + _seconds(draw(st.floats(0.5, 86400))))
    if outcome == "closed" or (outcome == "still_present" and draw(st.booleans())):
        row.update(status="closed", closed_at=at + _seconds(draw(st.floats(1, 86400 * 2))))
    return row


@st.composite
def queries(draw: Any) -> StatsQuery:
    since = START + timedelta(minutes=draw(st.integers(-1440, 12 * 1440)))
    until = since + timedelta(minutes=draw(st.integers(1, 16 * 1440)))
    cameras = draw(st.one_of(st.none(), st.frozensets(st.sampled_from(CAMERAS))))
    return StatsQuery(period=draw(st.sampled_from(list(Period))), since=since, until=until,
                      by=draw(st.one_of(st.none(), st.sampled_from(list(GroupBy)))), cameras=cameras,
                      utc_offset=draw(st.sampled_from([0, 480, -300, 345, 840, -720])),
                      now=START + timedelta(minutes=draw(st.integers(0, 30 * 1440)), microseconds=7))


def insert_cases(db: Database, rows: list[dict[str, Any]]) -> list[int]:
    ids: list[int] = []
    with db.session() as s:
        for n, row in enumerate(rows):
            values = {k: v for k, v in row.items() if k != "merged"}
            values.update(
                event_id=f"rollup-{n}-{random.getrandbits(40)}", zone_id="pavement", family="street_stall",
                place=f"{n}", place_box=[0.1, 0.1, 0.2, 0.2], catalogue_version="t", description="", boxes=[],
                first_seen=row["raised_at"], last_seen=row["raised_at"], updated_at=row["raised_at"],
                merged_into=ids[0] if row["merged"] and ids else None)
            ids.append(s.execute(insert(Case).values(**values).returning(Case.id)).scalar_one())
    return ids


def clear(db: Database) -> None:
    with db.session() as s:
        s.execute(delete(RollupRow))
        s.execute(delete(RollupReason))
        s.execute(delete(RollupDay))
        s.execute(update(Case).values(merged_into=None))
        s.execute(delete(Case))


def assert_same(db: Database, query: StatsQuery) -> None:
    with db.session() as s:
        expected = raw_report(s, query).model_dump()
    with db.session() as s:
        assert report(s, query).model_dump() == expected, query


@pytest.fixture(scope="module")
def sqlite_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    db = open_database(tmp_path_factory.mktemp("rollup"))
    yield db
    db.dispose()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(case_rows(), max_size=40), asked=st.lists(queries(), min_size=1, max_size=4),
       change=st.data())
def test_the_rollup_answers_what_the_cases_answer(sqlite_db: Database, rows: list[dict[str, Any]],
                                                   asked: list[StatsQuery], change: Any) -> None:
    clear(sqlite_db)
    ids = insert_cases(sqlite_db, rows)
    for query in asked:
        assert_same(sqlite_db, query)
    if not ids:
        return
    # cases change under the built days: decided, cleared, moved to another camera, raised at another time
    victim = change.draw(st.sampled_from(ids))
    values = change.draw(st.sampled_from([
        {"status": "rejected", "reject_reason": "late", "decided_at": START + timedelta(days=13)},
        {"cleared_at": START + timedelta(days=2, seconds=0.25), "status": "cleared_on_video"},
        {"camera_id": "cam-z", "camera_name": "新杆"}, {"raised_at": START + timedelta(days=5, hours=7)},
        {"deadline_at": START + timedelta(days=4)}]))
    with sqlite_db.session() as s:
        s.execute(update(Case).where(Case.id == victim).values(**values))
    for query in asked:
        assert_same(sqlite_db, query)


def _drawn(rng: random.Random) -> dict[str, Any]:
    """A case drawn from a seeded generator: the fixed history of the long-range checks."""
    raised = START + _seconds(rng.uniform(0, 12 * 86400))
    row: dict[str, Any] = {
        "camera_id": rng.choice(CAMERAS), "camera_name": rng.choice(["甲", "乙"]), "code": "0501",
        "code_name": "无照经营游商", "street": rng.choice(STREETS), "community": rng.choice(STREETS),
        "source": rng.choice(["ai", "patrol"]), "raised_at": raised, "status": "pending_review",
        "decided_at": None, "reject_reason": None, "merged": False, "dispatched_at": None, "cleared_at": None,
        "closed_at": None, "deadline_at": None}
    if rng.random() < 0.9:
        decided = raised + _seconds(rng.uniform(0.01, 900))
        row.update(decided_at=decided, status="confirmed")
        if rng.random() < 0.2:
            row.update(status="rejected", reject_reason=rng.choice(["shadow", "other"]))
        elif rng.random() < 0.8:
            dispatched = decided + _seconds(rng.uniform(1, 600))
            row.update(status="dispatched", dispatched_at=dispatched,
                       deadline_at=dispatched + _seconds(rng.uniform(60, 86400)))
            if rng.random() < 0.7:
                row.update(status="cleared_on_video", cleared_at=dispatched + _seconds(rng.uniform(1, 86400)))
    return row


def long_queries() -> list[StatsQuery]:
    now = START + timedelta(days=20)
    out = []
    for period in Period:
        for by in (None, *GroupBy):
            for cameras in (None, frozenset({"cam-a", "cam-c"})):
                out.append(StatsQuery(period, START - timedelta(hours=3), START + timedelta(days=11, hours=5), by,
                                      cameras, 480, now))
    out.append(StatsQuery(Period.DAY, START, START + timedelta(days=12), None, None, 480, START + timedelta(days=6)))
    return out


def check_long_ranges(db: Database) -> None:
    insert_cases(db, [_drawn(random.Random(13 + n)) for n in range(400)])
    for query in long_queries():
        assert_same(db, query)
    with db.session() as s:
        built = s.scalar(select(func.count()).select_from(RollupDay).where(RollupDay.state == "built"))
        rows = s.scalar(select(func.count()).select_from(RollupRow))
    assert built and built >= 10 and rows, "the long ranges were answered from the rollup"


def test_long_ranges_read_the_rollup_and_a_change_marks_its_day_stale(tmp_path: Path) -> None:
    db = open_database(tmp_path)
    try:
        check_long_ranges(db)
        with db.session() as s:
            case_id, raised = s.execute(select(Case.id, Case.raised_at).order_by(Case.id).limit(1)).one()
            s.execute(update(Case).where(Case.id == case_id).values(street="新街道"))
        with db.session() as s:
            states = set(s.scalars(select(RollupDay.state).where(
                RollupDay.start_at <= raised, RollupDay.end_at > raised)))
            assert states == {"stale"}
            s.execute(update(Case).where(Case.id == case_id).values(description="not a figure"))
        for query in long_queries():
            assert_same(db, query)
        with db.session() as s:
            assert "stale" not in set(s.scalars(select(RollupDay.state)))
            s.execute(update(Case).where(Case.id == case_id).values(description="still not a figure"))
            assert "stale" not in set(s.scalars(select(RollupDay.state)))
    finally:
        db.dispose()


@pytest.mark.slow
def test_the_rollup_answers_what_the_cases_answer_on_postgresql(tmp_path: Path, postgres_server: int) -> None:
    from tests.pg import database_url

    db = open_database(tmp_path, database_url(postgres_server))
    try:
        check_long_ranges(db)
    finally:
        db.dispose()
